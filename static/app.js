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

  // A request that failed without a body worth showing (network down,
  // empty 502 from a proxy) gets a generic message in the flash area.
  function showFlash(kind, text) {
    var area = document.getElementById("flashes");
    if (!area) {
      return;
    }
    var div = document.createElement("div");
    div.className = "flash flash-" + kind;
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    div.setAttribute("data-testid", "flash");
    div.textContent = text;
    area.appendChild(div);
  }
  document.addEventListener("htmx:sendError", function () {
    showFlash("error", "The server could not be reached. Check your connection and try again.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && !xhr.responseText) {
      showFlash("error", "The request failed (HTTP " + xhr.status + "). Try again in a moment.");
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

  function renderTimes(root) {
    (root || document).querySelectorAll("time[data-relative][datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) {
        return;
      }
      if (!el.hasAttribute("data-exact")) {
        el.setAttribute("data-exact", el.textContent);
        el.title = dtf ? dtf.format(d) : d.toString();
      }
      el.textContent = relative(d);
    });
  }

  // issue 9: a table box that scrolls (wider or taller than its room, as on
  // a phone) can be reached and scrolled with the keyboard: it becomes a
  // focusable region named after its table's heading. A box that fits gets
  // no extra tab stop, so this runs again when the window is resized.
  function tableLabel(wrap) {
    var t = wrap.querySelector("table");
    if (t && t.getAttribute("aria-label")) {
      return t.getAttribute("aria-label");
    }
    var cap = t && t.querySelector("caption");
    if (cap && cap.textContent.trim()) {
      return cap.textContent.trim();
    }
    var sec = wrap.closest("section[aria-labelledby]");
    var h = sec && document.getElementById(sec.getAttribute("aria-labelledby"));
    if (!h) {
      var box = wrap.closest("section, .card, .section");
      h = box && box.querySelector("h2, h3, .card-title");
    }
    if (!h) {
      h = document.querySelector("main h1");
    }
    var text = h ? h.textContent.replace(/\s+/g, " ").trim() : "";
    return (text || "Table") + " (scrollable table)";
  }
  function markScrollRegions(root) {
    (root || document).querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1 || wrap.scrollHeight > wrap.clientHeight + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", tableLabel(wrap));
        wrap.setAttribute("data-scroll-region", "");
      } else if (!scrolls && wrap.hasAttribute("data-scroll-region")) {
        ["tabindex", "role", "aria-label", "data-scroll-region"].forEach(function (a) {
          wrap.removeAttribute(a);
        });
      }
    });
  }
  // Opening a <details> in a table can make its box scroll.
  document.addEventListener(
    "toggle",
    function () {
      markScrollRegions(document);
    },
    true
  );
  var resizeTimer = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () {
      markScrollRegions(document);
    }, 150);
  });

  // Run the per-element enhancements on the page and on content htmx swaps in.
  function enhance(root) {
    renderTimes(root);
    markScrollRegions(root);
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
