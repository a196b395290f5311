//! A browser: a cookie jar, no automatic redirects (tests look at every hop), and form filling
//! by field name as a person (or password manager) would.

use std::collections::HashMap;

use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};

pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

/// A page that was fetched: status, final body and the hidden + visible form fields.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub fields: HashMap<String, String>,
}

impl Page {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or_else(|| panic!("no field {name} in {}", self.body))
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self { http, base: base.to_string() }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.http.get(self.absolute(url)).header("accept-language", "nl").send().await.expect("GET")
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Response {
        self.http.post(self.absolute(url)).form(form).send().await.expect("POST")
    }

    /// Opens the form page at `url` and submits it to `url` as a person would: the page's own
    /// fields (hidden ones such as the CSRF token included), with `fields` typed in.
    pub async fn fill_in(&self, url: &str, fields: &[(&str, &str)]) -> Response {
        let page = to_page(self.get(url).await).await;
        assert_eq!(page.status, StatusCode::OK, "form page {url}: {}", page.body);
        let mut form: Vec<(&str, &str)> = page
            .fields
            .iter()
            .filter(|(name, _)| !fields.iter().any(|(typed, _)| typed == name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.extend_from_slice(fields);
        self.post_form(url, &form).await
    }

    /// Like [`Browser::post_form`] from a browser set to `language` (`Accept-Language`).
    pub async fn post_form_in(&self, language: &str, url: &str, form: &[(&str, &str)]) -> Response {
        self.http.post(self.absolute(url)).header("accept-language", language).form(form).send().await.expect("POST")
    }

    /// GETs `url` and follows redirects while they stay on the IdP; returns the last response's
    /// `Location` when it leaves the IdP (back to a portal), or the page where it stopped.
    pub async fn follow(&self, url: &str) -> Result<String, Page> {
        let mut next = self.absolute(url);
        for _ in 0..10 {
            let response = self.http.get(&next).send().await.expect("GET");
            if !response.status().is_redirection() {
                return Err(to_page(response).await);
            }
            let location = location(&response).expect("redirect has a Location");
            if !location.starts_with('/') && !location.starts_with(&self.base) {
                return Ok(location);
            }
            next = self.absolute(&location);
        }
        panic!("redirect loop");
    }

    /// Starts at an authorization URL, signs in on the form and returns where the IdP sends the browser.
    pub async fn sign_in(&self, authorize_url: &str, username: &str, password: &str) -> String {
        let page = self.follow(authorize_url).await.expect_err("expected the sign-in page");
        assert_eq!(page.status, StatusCode::OK, "sign-in page: {}", page.body);
        let response = self.submit_login(&page, username, password).await;
        assert!(response.status().is_redirection(), "sign-in failed: {}", response.status());
        let location = location(&response).unwrap();
        if location.starts_with('/') {
            return self.follow(&location).await.expect("portal redirect");
        }
        location
    }

    pub async fn submit_login(&self, page: &Page, username: &str, password: &str) -> Response {
        self.post_form(
            "/login",
            &[
                ("interaction", page.field("interaction")),
                ("csrf", page.field("csrf")),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

pub fn location(response: &Response) -> Option<String> {
    response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string())
}

pub async fn to_page(response: Response) -> Page {
    let status = response.status();
    let body = response.text().await.expect("body");
    let html = Html::parse_document(&body);
    let inputs = Selector::parse("input[name]").unwrap();
    let fields = html
        .select(&inputs)
        .map(|e| (e.value().attr("name").unwrap().to_string(), e.value().attr("value").unwrap_or("").to_string()))
        .collect();
    Page { status, body, fields }
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
