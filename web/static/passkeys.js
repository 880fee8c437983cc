// passkeys.js is the pages' only script: the passkey (WebAuthn) ceremonies
// of the login page, the second-factor page and the dashboard. It calls
// the same JSON API as any client (/v1/auth/passkeys/...), from the same
// origin, so the session and ceremony cookies go along and the server's
// cross-origin check passes. Every rule is the server's; this file only
// carries the options to the browser's authenticator and its answer back.
// No build step: plain ES2017 for every current browser.
(function () {
  'use strict';

  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the pages keep their password forms; nothing to offer
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function fromB64(str) {
    var s = atob(str.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((str.length + 3) % 4));
    var bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes.buffer;
  }

  function withIDs(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromB64(c.id) }); });
  }

  // The server's options are JSON; the browser wants buffers.
  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o.publicKey);
    }
    var p = Object.assign({}, o.publicKey);
    p.challenge = fromB64(p.challenge);
    p.user = Object.assign({}, p.user, { id: fromB64(p.user.id) });
    p.excludeCredentials = withIDs(p.excludeCredentials);
    return p;
  }

  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey);
    }
    var p = Object.assign({}, o.publicKey);
    p.challenge = fromB64(p.challenge);
    p.allowCredentials = withIDs(p.allowCredentials);
    return p;
  }

  // The browser's answer, as PublicKeyCredential.toJSON() gives it.
  function credentialJSON(c) {
    if (typeof c.toJSON === 'function') {
      return c.toJSON();
    }
    var r = c.response, out = {
      id: c.id, rawId: toB64(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  }

  // api posts body to path and returns the envelope's data, or throws the
  // envelope's message (with its fields).
  function api(path, body) {
    return fetch(path, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return { message: 'The server answered ' + res.status + '.' }; })
        .then(function (env) {
          if (!res.ok) {
            var msg = env.message || ('The server answered ' + res.status + '.');
            if (env.fields) msg += ' ' + Object.keys(env.fields).map(function (k) { return env.fields[k]; }).join(' ');
            var e = new Error(msg);
            e.status = res.status;
            throw e;
          }
          return env.data;
        });
    });
  }

  function describe(err) {
    switch (err && err.name) {
      case 'NotAllowedError': return 'The passkey request was cancelled or timed out.';
      case 'InvalidStateError': return 'This device already holds a passkey of your account.';
      case 'AbortError': return '';
      case 'SecurityError': return 'This page\'s address is not one passkeys are set up for.';
    }
    return (err && err.message) || 'Something went wrong.';
  }

  function show(msg) {
    var el = document.getElementById('passkey-error');
    if (el) { el.textContent = msg; el.hidden = !msg; }
  }

  // Only a path of this site, as the server's own return_to check.
  function returnTo() {
    var f = document.querySelector('input[name="return_to"]');
    var v = f ? f.value : '';
    return /^\/(?![\/\\])/.test(v) ? v : '/dashboard';
  }

  function busy(button, on) { if (button) button.disabled = on; }

  // The login page: a button, and the browser's autofill (conditional
  // mediation) where it offers passkeys in the email field.
  function loginPage() {
    var button = document.getElementById('passkey-login');
    if (!button) return;
    document.getElementById('passkey-login-box').hidden = false;
    var pending = null; // the autofill request waiting in the background

    function login(mediation) {
      var remember = document.getElementById('remember_me');
      return api('/v1/auth/passkeys/login/begin', { remember_me: !!(remember && remember.checked) })
        .then(function (opts) {
          var ctl = new AbortController(), req = { publicKey: requestOptions(opts), signal: ctl.signal };
          if (mediation) req.mediation = mediation;
          if (mediation === 'conditional') pending = ctl;
          return navigator.credentials.get(req);
        })
        .then(function (cred) {
          return api('/v1/auth/passkeys/login/finish', { credential: credentialJSON(cred) });
        })
        .then(function (data) {
          var to = returnTo();
          location.assign(data && data.second_factor_required ? '/login/code?return_to=' + encodeURIComponent(to) : to);
        });
    }

    button.addEventListener('click', function () {
      if (pending) { pending.abort(); pending = null; }
      show('');
      busy(button, true);
      login('').catch(function (err) { show(describe(err)); }).then(function () { busy(button, false); });
    });

    // The autofill request starts when the email field is first focused,
    // not at page load: each request is a ceremony the server records and
    // counts against the login's per-IP budget.
    var email = document.getElementById('email_address');
    if (email && PublicKeyCredential.isConditionalMediationAvailable) {
      email.addEventListener('focus', function () {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (ok && !pending) {
            login('conditional').catch(function (err) { if (err && err.status) show(describe(err)); });
          }
        });
      }, { once: true });
    }
  }

  // The second-factor page: a passkey instead of the code.
  function codePage() {
    var button = document.getElementById('passkey-verify');
    if (!button) return;
    document.getElementById('passkey-verify-box').hidden = false;
    button.addEventListener('click', function () {
      show('');
      busy(button, true);
      api('/v1/auth/passkeys/verify/begin', {})
        .then(function (opts) { return navigator.credentials.get({ publicKey: requestOptions(opts) }); })
        .then(function (cred) { return api('/v1/auth/passkeys/verify/finish', { credential: credentialJSON(cred) }); })
        .then(function () { location.assign(returnTo()); })
        .catch(function (err) { show(describe(err)); })
        .then(function () { busy(button, false); });
    });
  }

  // The dashboard: add a passkey (rename and remove are plain forms).
  function dashboard() {
    var form = document.getElementById('passkey-add');
    if (!form) return;
    form.hidden = false;
    document.getElementById('passkey-unsupported').hidden = true;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      show('');
      busy(button, true);
      api('/v1/auth/passkeys/register/begin', { password: form.elements.password.value })
        .then(function (opts) { return navigator.credentials.create({ publicKey: creationOptions(opts) }); })
        .then(function (cred) {
          return api('/v1/auth/passkeys/register/finish', { credential: credentialJSON(cred), name: form.elements.name.value });
        })
        .then(function () { location.assign('/dashboard?passkey=added'); })
        .catch(function (err) { show(describe(err)); })
        .then(function () { busy(button, false); });
    });
  }

  loginPage();
  codePage();
  dashboard();
}());
