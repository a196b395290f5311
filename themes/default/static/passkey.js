// Passkey registration and sign-in as a progressive enhancement of plain forms.
//
// <form method="post" data-passkey="register|authenticate"
//       data-msg-unsupported="..." data-msg-cancelled="..." data-msg-exists="..." data-msg-failed="...">
//   <input type="hidden" name="options" value="{...webauthn-rs JSON...}">
//   <input type="hidden" name="response">
//   <p data-passkey-message role="alert" hidden></p>
//   <button type="submit">...</button>
// </form>
//
// On submit: navigator.credentials.create/get with the options (base64url -> ArrayBuffer), then the
// credential (ArrayBuffer -> base64url, the JSON webauthn-rs reads) goes into the hidden input and the
// form is POSTed as usual. Loaded as an external file, so it works under CSP script-src 'self'.
(function () {
  'use strict';

  function b64urlToBuffer(value) {
    var b64 = value.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // WebIDL turns a null enum member into the string "null" and rejects it: drop nulls.
  function dropNulls(value) {
    if (Array.isArray(value)) return value.map(dropNulls);
    if (value && typeof value === 'object') {
      var out = {};
      Object.keys(value).forEach(function (k) {
        if (value[k] !== null) out[k] = dropNulls(value[k]);
      });
      return out;
    }
    return value;
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (c) {
      var d = Object.assign({}, c);
      d.id = b64urlToBuffer(c.id);
      return d;
    });
  }

  function creationOptions(json) {
    var pk = dropNulls(json.publicKey);
    pk.challenge = b64urlToBuffer(pk.challenge);
    pk.user.id = b64urlToBuffer(pk.user.id);
    if (pk.excludeCredentials) pk.excludeCredentials = decodeDescriptors(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(json) {
    var pk = dropNulls(json.publicKey);
    pk.challenge = b64urlToBuffer(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = decodeDescriptors(pk.allowCredentials);
    var options = { publicKey: pk };
    if (json.mediation) options.mediation = json.mediation;
    return options;
  }

  // Only plain, JSON-safe client extension outputs that webauthn-rs understands.
  function extensionResults(cred) {
    var all = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    var out = {};
    if (typeof all.appid === 'boolean') out.appid = all.appid;
    if (all.credProps && typeof all.credProps.rk === 'boolean') out.credProps = { rk: all.credProps.rk };
    return out;
  }

  function registrationJson(cred) {
    var r = cred.response;
    var response = {
      attestationObject: bufferToB64url(r.attestationObject),
      clientDataJSON: bufferToB64url(r.clientDataJSON)
    };
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    return {
      id: cred.id,
      rawId: bufferToB64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: extensionResults(cred)
    };
  }

  function assertionJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: bufferToB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: bufferToB64url(r.authenticatorData),
        clientDataJSON: bufferToB64url(r.clientDataJSON),
        signature: bufferToB64url(r.signature),
        userHandle: r.userHandle ? bufferToB64url(r.userHandle) : null
      },
      extensions: extensionResults(cred)
    };
  }

  function message(form, key, fallback) {
    var el = form.querySelector('[data-passkey-message]');
    var text = form.getAttribute('data-msg-' + key) || fallback;
    if (el) {
      el.textContent = text;
      el.hidden = false;
      el.setAttribute('data-state', key);
    }
  }

  function supported() {
    return window.isSecureContext && typeof window.PublicKeyCredential === 'function' &&
      !!navigator.credentials;
  }

  function setBusy(form, busy) {
    var buttons = form.querySelectorAll('button, input[type=submit]');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = busy;
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function enhance(form) {
    var mode = form.getAttribute('data-passkey');
    if (mode !== 'register' && mode !== 'authenticate') return;
    if (!supported()) {
      message(form, 'unsupported', 'This browser does not support passkeys.');
      setBusy(form, true);
      return;
    }
    var pending = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (pending) return;
      var optionsField = form.querySelector('input[name=options]');
      var responseField = form.querySelector('input[name=response]');
      var json;
      try {
        json = JSON.parse(optionsField.value);
      } catch (e) {
        message(form, 'failed', 'Passkeys are not available right now.');
        return;
      }
      pending = true;
      setBusy(form, true);
      var call = mode === 'register'
        ? navigator.credentials.create(creationOptions(json))
        : navigator.credentials.get(requestOptions(json));
      call.then(function (cred) {
        if (!cred) throw new DOMException('no credential', 'NotAllowedError');
        var out = mode === 'register' ? registrationJson(cred) : assertionJson(cred);
        responseField.value = JSON.stringify(out);
        form.setAttribute('data-passkey-state', 'submitting');
        // submit() sends no second submit event, and a field named "submit" cannot shadow it.
        HTMLFormElement.prototype.submit.call(form);
      }).catch(function (err) {
        pending = false;
        setBusy(form, false);
        var name = err && err.name;
        if (name === 'InvalidStateError') {
          message(form, 'exists', 'This device already has a passkey for this account.');
        } else if (name === 'NotAllowedError' || name === 'AbortError') {
          message(form, 'cancelled', 'The passkey request was cancelled or timed out.');
        } else {
          message(form, 'failed', 'The passkey request failed.');
        }
      });
    });
    form.setAttribute('data-passkey-ready', 'true');
  }

  function init() {
    var forms = document.querySelectorAll('form[data-passkey]');
    for (var i = 0; i < forms.length; i++) enhance(forms[i]);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
