// Vagon Fleet: small progressive enhancements. No framework, no inline
// scripts or styles (the CSP forbids them). Every page works without this
// file; it only adds comfort.
(function () {
  "use strict";

  // htmx configuration. The layout's <meta name="htmx-config"> says the same;
  // setting it here too keeps htmx from injecting a <style> element or
  // evaluating code even if the meta tag is missing.
  if (window.htmx) {
    var cfg = window.htmx.config;
    cfg.includeIndicatorStyles = false;
    cfg.allowEval = false;
    cfg.allowScriptTags = false;
    cfg.selfRequestsOnly = true;
    // Swap 422 (form with field errors) and error pages the server renders
    // for htmx requests; the server retargets those to #flashes when the
    // original target does not fit.
    cfg.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: true, error: true },
      { code: "...", swap: false }
    ];
  }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") || "" : "";
  }

  // Every htmx request carries the CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (evt) {
    var t = csrfToken();
    if (t) {
      evt.detail.headers["X-CSRF-Token"] = t;
    }
  });

  // ---- Confirm dialogs: <form data-confirm="message"> ----
  var pending = null; // { form, submitter }

  function dialog() {
    var d = document.getElementById("confirm-dialog");
    return d && typeof d.showModal === "function" ? d : null;
  }

  function askConfirm(form, submitter) {
    var msg = form.getAttribute("data-confirm") || "Are you sure?";
    var d = dialog();
    if (!d) {
      return window.confirm(msg) ? "yes" : "no";
    }
    var text = d.querySelector("[data-confirm-message]");
    if (text) {
      text.textContent = msg;
    }
    var ok = d.querySelector("[data-confirm-ok]");
    if (ok) {
      var label = (submitter && submitter.textContent.trim()) || "Confirm";
      ok.textContent = label;
      ok.className = form.getAttribute("data-confirm-variant") === "primary" ? "btn btn-primary" : "btn btn-danger";
    }
    pending = { form: form, submitter: submitter };
    d.returnValue = "";
    d.showModal();
    var cancel = d.querySelector("[data-confirm-cancel]");
    if (cancel) {
      cancel.focus();
    }
    return "pending";
  }

  // Capture phase on the document runs before htmx's own submit listener on
  // the form, so stopping the event here stops both htmx and the browser.
  document.addEventListener(
    "submit",
    function (evt) {
      var form = evt.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) {
        return;
      }
      if (form.dataset.confirmed === "1") {
        delete form.dataset.confirmed;
        return;
      }
      var answer = askConfirm(form, evt.submitter || null);
      if (answer === "yes") {
        return;
      }
      evt.preventDefault();
      evt.stopImmediatePropagation();
    },
    true
  );

  document.addEventListener("close", function (evt) {
    var d = evt.target;
    if (!d || d.id !== "confirm-dialog" || !pending) {
      return;
    }
    var p = pending;
    pending = null;
    if (d.returnValue === "confirm") {
      p.form.dataset.confirmed = "1";
      if (typeof p.form.requestSubmit === "function") {
        p.form.requestSubmit(p.submitter && p.submitter.form === p.form ? p.submitter : undefined);
      } else {
        p.form.submit();
      }
    } else if (p.submitter) {
      p.submitter.focus();
    }
  }, true);

  // ---- Type the name to enable the button: <input data-confirm-name="name"> ----
  function syncConfirmName(input) {
    var want = input.getAttribute("data-confirm-name");
    var form = input.form;
    if (!form) {
      return;
    }
    var match = input.value.trim() === want;
    form.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]').forEach(function (b) {
      b.disabled = !match;
    });
  }
  document.addEventListener("input", function (evt) {
    var t = evt.target;
    if (t instanceof HTMLInputElement && t.hasAttribute("data-confirm-name")) {
      syncConfirmName(t);
    }
  });

  // ---- Copy to clipboard: <button data-copy-target="#selector"> ----
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Fallback for plain-HTTP origins: a temporary textarea.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "visually-hidden";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(ta);
      if (ok) {
        resolve();
      } else {
        reject(new Error("copy failed"));
      }
    });
  }
  document.addEventListener("click", function (evt) {
    var btn = evt.target instanceof Element ? evt.target.closest("[data-copy-target]") : null;
    if (!btn) {
      return;
    }
    var target = document.querySelector(btn.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    var text = "value" in target && typeof target.value === "string" ? target.value : target.textContent;
    var original = btn.getAttribute("data-copy-label") || btn.textContent;
    btn.setAttribute("data-copy-label", original);
    copyText((text || "").trim()).then(
      function () {
        btn.textContent = "Copied";
        btn.classList.add("is-copied");
      },
      function () {
        btn.textContent = "Copy failed";
      }
    ).then(function () {
      window.setTimeout(function () {
        btn.textContent = original;
        btn.classList.remove("is-copied");
      }, 2000);
    });
  });

  // ---- Relative times: <time datetime="..." data-relative> ----
  var units = [
    ["year", 365 * 24 * 3600],
    ["month", 30 * 24 * 3600],
    ["week", 7 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1]
  ];
  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
  var dtf = window.Intl ? new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" }) : null;

  function relative(date) {
    var diff = (date.getTime() - Date.now()) / 1000;
    var abs = Math.abs(diff);
    if (abs < 45) {
      return "just now";
    }
    for (var i = 0; i < units.length; i++) {
      if (abs >= units[i][1] || units[i][0] === "second") {
        var n = Math.round(diff / units[i][1]);
        if (rtf) {
          return rtf.format(n, units[i][0]);
        }
        var k = Math.abs(n) + " " + units[i][0] + (Math.abs(n) === 1 ? "" : "s");
        return n < 0 ? k + " ago" : "in " + k;
      }
    }
    return "";
  }

  // The reader's time zone: the account's (<body data-time-zone>) when set
  // and known to the browser, else the browser's own.
  function timeZone() {
    var tz = document.body ? document.body.getAttribute("data-time-zone") || "" : "";
    if (tz && window.Intl) {
      try {
        new Intl.DateTimeFormat(undefined, { timeZone: tz });
        return tz;
      } catch (e) {
        return undefined;
      }
    }
    return undefined;
  }

  var localFmt = null;
  function localFormat(d) {
    if (!window.Intl) {
      return d.toString();
    }
    if (!localFmt) {
      var opts = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
      var tz = timeZone();
      if (tz) {
        opts.timeZone = tz;
      }
      localFmt = new Intl.DateTimeFormat(undefined, opts);
    }
    return localFmt.format(d);
  }

  // <time datetime data-local>: the date and time in the reader's zone and
  // the relative time; the exact UTC time (the server's text) stays as the
  // title. <time data-relative> (older markup) gets the same treatment.
  function renderTimes(root) {
    (root || document).querySelectorAll("time[data-local][datetime], time[data-relative][datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) {
        return;
      }
      if (!el.hasAttribute("data-exact")) {
        el.setAttribute("data-exact", el.textContent.trim());
        el.title = el.textContent.trim();
      }
      el.textContent = localFormat(d) + " (" + relative(d) + ")";
    });
  }

  // ---- Toasts: #toasts, filled out of band by htmx answers ----
  function armToast(el) {
    if (el.dataset.armed === "1") {
      return;
    }
    el.dataset.armed = "1";
    var ms = parseInt(el.getAttribute("data-autohide") || "", 10);
    if (ms > 0) {
      window.setTimeout(function () {
        dismissToast(el);
      }, ms);
    }
  }
  function dismissToast(el) {
    if (!el || !el.parentNode) {
      return;
    }
    var hadFocus = el.contains(document.activeElement);
    el.parentNode.removeChild(el);
    if (hadFocus && lastControl && document.contains(lastControl)) {
      lastControl.focus();
    }
  }
  function armToasts(root) {
    var region = document.getElementById("toasts");
    if (region) {
      region.querySelectorAll('[data-testid="toast"]').forEach(armToast);
    }
  }
  document.addEventListener("click", function (evt) {
    var btn = evt.target instanceof Element ? evt.target.closest("[data-toast-dismiss]") : null;
    if (btn) {
      dismissToast(btn.closest('[data-testid="toast"]'));
    }
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && document.activeElement && document.activeElement.closest) {
      var t = document.activeElement.closest('[data-testid="toast"]');
      if (t) {
        dismissToast(t);
      }
    }
  });
  // A request that failed without a body also gets a toast.
  function showToast(kind, text) {
    var region = document.getElementById("toasts");
    if (!region) {
      return;
    }
    var div = document.createElement("div");
    div.className = "toast flash-" + kind;
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    div.setAttribute("data-testid", "toast");
    div.setAttribute("data-kind", kind);
    var p = document.createElement("p");
    p.className = "toast-text";
    p.textContent = text;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "toast-close";
    b.setAttribute("data-toast-dismiss", "");
    b.setAttribute("aria-label", "Dismiss this message");
    b.setAttribute("data-testid", "toast-dismiss");
    b.textContent = "\u00d7";
    div.appendChild(p);
    div.appendChild(b);
    region.appendChild(div);
  }
  document.addEventListener("htmx:sendError", function () {
    showToast("error", "The server could not be reached. Check your connection and try again.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && !xhr.responseText) {
      showToast("error", "The request failed (HTTP " + xhr.status + "). Try again in a moment.");
    }
  });

  // ---- Focus after an htmx action: back to the control used, or to the
  // message of the section for an error ----
  var lastControl = null;
  var pendingFocus = null; // { testid, xhr }
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("hx-post")) {
      return;
    }
    var ctl = evt.submitter || form.querySelector('button[type="submit"], button:not([type])');
    pendingFocus = { testid: ctl ? ctl.getAttribute("data-testid") : null, xhr: null };
  }, true);
  document.addEventListener("htmx:beforeSend", function (evt) {
    var elt = evt.detail.requestConfig ? evt.detail.requestConfig.elt : null;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-focus-after")) {
      // A link that goes back (e.g. "Keep it running") names the control
      // to focus afterwards.
      pendingFocus = { testid: elt.getAttribute("data-focus-after"), xhr: evt.detail.xhr };
    } else if (pendingFocus && !pendingFocus.xhr && evt.detail.requestConfig && evt.detail.requestConfig.verb !== "get") {
      pendingFocus.xhr = evt.detail.xhr;
    }
  });
  function focusable(el) {
    return el && document.contains(el) && !el.disabled && el.getClientRects().length > 0;
  }
  document.addEventListener("htmx:afterSettle", function (evt) {
    var pf = pendingFocus;
    if (!pf || pf.xhr !== evt.detail.xhr) {
      return;
    }
    pendingFocus = null;
    var target = evt.detail.target && document.contains(evt.detail.target) ? evt.detail.target : document;
    if (document.activeElement && document.activeElement.hasAttribute("autofocus") && target.contains(document.activeElement)) {
      lastControl = document.activeElement;
      return; // the answer asked for its own focus (a confirmation)
    }
    var failed = evt.detail.xhr && evt.detail.xhr.status >= 400;
    var msg = target.querySelector('[data-testid="section-message"]');
    var ctl = pf.testid ? document.querySelector('[data-testid="' + pf.testid + '"]') : null;
    if (failed && msg) {
      msg.focus();
    } else if (focusable(ctl)) {
      ctl.focus();
      lastControl = ctl;
    } else if (msg) {
      msg.focus();
    }
  });

  // ---- Live updates never wipe what is being typed: an out-of-band part
  // of a poll answer that holds the focus or edited input is kept ----
  function dirty(root) {
    var els = root.querySelectorAll("input, textarea, select");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.type === "hidden") {
        continue;
      }
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked !== el.defaultChecked) {
          return true;
        }
      } else if (el.tagName === "SELECT") {
        for (var j = 0; j < el.options.length; j++) {
          if (el.options[j].selected !== el.options[j].defaultSelected) {
            return true;
          }
        }
      } else if (el.value !== el.defaultValue) {
        return true;
      }
    }
    return false;
  }
  function busy(el) {
    var a = document.activeElement;
    return (a && a !== document.body && el.contains(a) && a.matches("input, textarea, select")) || dirty(el);
  }
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var t = evt.detail.target;
    // Only a poll's answer defers to the reader; an action's own answer
    // replaces what it acted on.
    if (pollAnswer && t && t.id !== "toasts" && busy(t)) {
      evt.detail.shouldSwap = false;
    }
  });
  var pollAnswer = false;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig ? evt.detail.requestConfig.elt : null;
    pollAnswer = !!(elt && elt.hasAttribute && elt.hasAttribute("data-polling"));
    if (pollAnswer && evt.detail.target && busy(evt.detail.target)) {
      evt.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    pollAnswer = false;
  });

  // ---- Typing in a field selects its choice: <input data-select-radio="id">;
  // choosing another radio of the group clears the field ----
  document.addEventListener("input", function (evt) {
    var t = evt.target;
    if (!(t instanceof HTMLInputElement) || !t.hasAttribute("data-select-radio")) {
      return;
    }
    var r = document.getElementById(t.getAttribute("data-select-radio"));
    if (r && t.value !== "") {
      r.checked = true;
    }
  });
  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (!(t instanceof HTMLInputElement) || t.type !== "radio" || !t.form || !t.checked) {
      return;
    }
    t.form.querySelectorAll("input[data-select-radio]").forEach(function (f) {
      if (f.getAttribute("data-select-radio") !== t.id && t.name === (document.getElementById(f.getAttribute("data-select-radio")) || {}).name) {
        f.value = "";
      }
    });
  });

  // ---- A link to a section with data-focus-first focuses its first field ----
  document.addEventListener("click", function (evt) {
    var a = evt.target instanceof Element ? evt.target.closest("a[data-focus-first][href^='#']") : null;
    if (!a) {
      return;
    }
    var sec = document.getElementById(a.getAttribute("href").slice(1));
    if (!sec) {
      return;
    }
    var first = sec.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled])");
    if (first) {
      evt.preventDefault();
      history.replaceState(null, "", a.getAttribute("href"));
      sec.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
    }
  });

  // <span data-browser-zone>: names the browser's own zone.
  function nameBrowserZone(root) {
    (root || document).querySelectorAll("[data-browser-zone]").forEach(function (el) {
      var z = window.Intl ? Intl.DateTimeFormat().resolvedOptions().timeZone : "";
      if (z) {
        el.textContent = " (" + z + ")";
      }
    });
  }

  // Run the per-element enhancements on the page and on content htmx swaps in.
  function enhance(root) {
    renderTimes(root);
    armToasts(root);
    nameBrowserZone(root);
    (root || document).querySelectorAll("input[data-confirm-name]").forEach(syncConfirmName);
  }
  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    window.setInterval(function () {
      renderTimes(document);
    }, 60000);
  });
  document.addEventListener("htmx:load", function (evt) {
    enhance(evt.target instanceof Element ? evt.target : document);
  });
})();
