//! The outbox: mail written with the change that causes it, delivered by the sender, retried
//! while SMTP is down, and delivered exactly once when it is back.

use idp::config::{MailTransport, SmtpSecurity};
use idp::domain::Secret;
use idp::store::OutboxMail;

use crate::helpers::{smtp, Backend, TestApp};

fn mail(app: &TestApp, id: &str) -> OutboxMail {
    OutboxMail {
        id: id.into(),
        organisation_id: None,
        recipient: "j.jansen@example.nl".into(),
        from_name: "Zorggroep Test".into(),
        from_address: "no-reply@zorg.example".into(),
        subject: "Uw code".into(),
        body_text: Secret::new("Uw validatiecode is KX4P9Q.".into()),
        body_html: Secret::new("<p>Uw validatiecode is <strong>KX4P9Q</strong>.</p>".into()),
        created_at: app.now(),
        attempts: 0,
        next_attempt_at: app.now(),
        sent_at: None,
    }
}

#[tokio::test]
async fn mail_waits_while_smtp_is_down_and_is_delivered_exactly_once() {
    // A port where nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp.host = "127.0.0.1".into();
        c.mail.smtp.port = port;
        c.mail.smtp.security = SmtpSecurity::None;
        c.mail.poll_interval_ms = 3_600_000; // the test drives the sender itself
    })
    .await;
    app.state.store.enqueue_mail(&mail(&app, "m1")).await.unwrap();

    let round = app.state.deliver_mail().await.unwrap();
    assert_eq!((round.sent, round.failed), (0, 1), "SMTP is down");
    let row = app.state.store.mail_by_id("m1").await.unwrap().unwrap();
    assert_eq!((row.attempts, row.sent_at), (1, None));
    assert_eq!(row.next_attempt_at, app.now() + 30, "retried after a backoff");

    let (_, received, server) = smtp::serve(port).await;
    let round = app.state.deliver_mail().await.unwrap();
    assert_eq!((round.sent, round.failed), (0, 0), "not due yet");

    app.clock.advance(30);
    let round = app.state.deliver_mail().await.unwrap();
    assert_eq!((round.sent, round.failed), (1, 0));
    app.clock.advance(3600);
    assert_eq!(app.state.deliver_mail().await.unwrap().sent, 0, "never twice");

    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Subject: Uw code"), "{}", messages[0]);
    assert!(messages[0].contains("Message-ID: <m1@poortwachter>"));
    let row = app.state.store.mail_by_id("m1").await.unwrap().unwrap();
    assert!(row.sent_at.is_some());
    assert_eq!(row.body_text.expose(), "", "sent bodies (they may hold codes) are not kept");
    server.abort();
}

#[tokio::test]
async fn concurrent_senders_deliver_a_mail_once() {
    let (port, received, server) = smtp::serve(0).await;
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp.host = "127.0.0.1".into();
        c.mail.smtp.port = port;
        c.mail.smtp.security = SmtpSecurity::None;
        c.mail.poll_interval_ms = 3_600_000;
    })
    .await;
    for i in 0..5 {
        app.state.store.enqueue_mail(&mail(&app, &format!("m{i}"))).await.unwrap();
    }
    // Two nodes' senders at the same moment.
    let (a, b) = tokio::join!(app.state.deliver_mail(), app.state.deliver_mail());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, 5, "{a:?} {b:?}");
    assert_eq!(received.messages().len(), 5);
    server.abort();
}

#[tokio::test]
async fn the_file_transport_writes_one_readable_message_per_mail() {
    let app = TestApp::spawn().await;
    app.state.store.enqueue_mail(&mail(&app, "f1")).await.unwrap();
    assert_eq!(app.state.deliver_mail().await.unwrap().sent, 1);
    let mails = app.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Uw code");
    assert_eq!(mails[0].to, "j.jansen@example.nl");
    assert!(mails[0].text.contains("KX4P9Q"));
    assert!(mails[0].html.contains("<strong>KX4P9Q</strong>"));
}
