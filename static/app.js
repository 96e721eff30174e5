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
  // The part an answer replaced, found again after the swap: by the id the
  // target (or its nearest ancestor with an id) had, since an outerHTML swap
  // leaves evt.detail.target detached. Controls are looked up in it only:
  // testids repeat from row to row (user-role-save, task-delete).
  function scopeIdOf(t) {
    var withId = t && t.closest ? t.closest("[id]") : null;
    return withId ? withId.id : "";
  }
  function focusScope(id, target) {
    var el = id ? document.getElementById(id) : null;
    if (el) { return el; }
    return target && document.contains(target) ? target : null;
  }
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (pendingFocus && pendingFocus.xhr === evt.detail.xhr) {
      pendingFocus.scopeId = scopeIdOf(evt.detail.target);
    }
  });
  // One afterSettle handler for both kinds of focus keeping: after an htmx
  // action (a form post, or a link naming data-focus-after) the control
  // used, or the message of its section/row; otherwise the focus the fleet
  // list's swaps took away (see "Focus stays on the control used" below).
  document.addEventListener("htmx:afterSettle", function (evt) {
    var pf = pendingFocus && pendingFocus.xhr === evt.detail.xhr ? pendingFocus : null;
    var hooks = window.vagonFocus || {};
    var lf = hooks.takeLost ? hooks.takeLost() : null;
    if (pf) { pendingFocus = null; }
    if (pf && restoreActionFocus(evt, pf)) { return; }
    if (lf && hooks.restoreLost) { hooks.restoreLost(lf); }
  });
  function restoreActionFocus(evt, pf) {
    var scope = focusScope(pf.scopeId, evt.detail.target);
    if (!scope) { return false; }
    var a = document.activeElement;
    if (a && a.hasAttribute("autofocus") && scope.contains(a)) {
      lastControl = a;
      return true; // the answer asked for its own focus (a confirmation)
    }
    var failed = evt.detail.xhr && evt.detail.xhr.status >= 400;
    var msg = scope.querySelector('[data-testid="section-message"]');
    var ctl = pf.testid ? scope.querySelector('[data-testid="' + pf.testid + '"]') : null;
    if (failed && msg) {
      msg.focus();
    } else if (focusable(ctl)) {
      ctl.focus();
      lastControl = ctl;
    } else if (msg) {
      msg.focus();
    } else {
      return false;
    }
    return true;
  }

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
    armToasts(root);
    nameBrowserZone(root);
    markScrollRegions(root);
    (root || document).querySelectorAll("input[data-confirm-name]").forEach(syncConfirmName);
    (root || document).querySelectorAll("[data-picker]").forEach(armPicker);
  }
  // A checkbox picker (schedules' machines): the filter box narrows the
  // list as typed, the count says how many are picked (hidden ones too).
  function armPicker(picker) {
    if (picker.hasAttribute("data-picker-armed")) { return; }
    picker.setAttribute("data-picker-armed", "");
    var filter = picker.querySelector("[data-picker-filter]");
    var count = picker.querySelector("[data-picker-count]");
    var none = picker.querySelector("[data-picker-none]");
    var items = Array.prototype.slice.call(picker.querySelectorAll("[data-picker-item]"));
    function recount() {
      var n = 0;
      items.forEach(function (it) { var cb = it.querySelector("input"); if (cb && cb.checked) { n++; } });
      if (count) { count.textContent = n + " of " + items.length + " selected"; }
    }
    function narrow() {
      var q = filter.value.trim().toLowerCase();
      var shown = 0;
      items.forEach(function (it) {
        var hit = q === "" || it.textContent.toLowerCase().indexOf(q) >= 0;
        it.hidden = !hit;
        if (hit) { shown++; }
      });
      if (none) { none.hidden = shown > 0; }
    }
    if (filter) {
      filter.hidden = false;
      filter.addEventListener("input", narrow);
      filter.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); } });
    }
    picker.addEventListener("change", recount);
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

// ---- issue 9: tables, fleet list ----
// Phone-card labels, the
// fleet's bulk selection kept across pages, the column chooser, focus kept
// across htmx swaps, a quiet refresh of the visible page, and "/" to search.
(function () {
  "use strict";

  // Phones show rows as cards: each cell is labelled with its column's header.
  function labelCells(root) {
    root = root || document;
    var tables = Array.prototype.slice.call(root.querySelectorAll(".table-wrap table"));
    var up = root.closest ? root.closest(".table-wrap table") : null;
    if (up) { tables.push(up); }
    tables.forEach(function (table) {
      var heads = [];
      table.querySelectorAll("thead tr:first-child > th").forEach(function (th) {
        var copy = th.cloneNode(true);
        copy.querySelectorAll(".sort-mark, input, .visually-hidden").forEach(function (n) { n.remove(); });
        var text = copy.textContent.replace(/\s+/g, " ").trim();
        for (var i = 0; i < (th.colSpan || 1); i++) {
          heads.push(text);
        }
      });
      table.querySelectorAll("tbody > tr, tfoot > tr").forEach(function (tr) {
        var col = 0;
        Array.prototype.forEach.call(tr.children, function (cell) {
          if (!cell.hasAttribute("data-label") && col < heads.length && (cell.colSpan || 1) === 1) {
            cell.setAttribute("data-label", heads[col] || "");
          }
          col += cell.colSpan || 1;
        });
      });
    });
  }

  // ---- Bulk selection: ticks kept in sessionStorage per user ----
  function bulkForm() { return document.getElementById("bulk-form"); }
  function selKey() { var f = bulkForm(); return f ? f.getAttribute("data-selection-key") : null; }
  function loadSel() {
    var k = selKey();
    if (!k) { return []; }
    try {
      var v = JSON.parse(window.sessionStorage.getItem(k) || "[]");
      return Array.isArray(v) ? v.filter(function (x) { return typeof x === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }
  function saveSel(ids) {
    var k = selKey();
    if (!k) { return; }
    try { window.sessionStorage.setItem(k, JSON.stringify(ids)); } catch (e) { /* storage full or off */ }
  }
  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll('input[type="checkbox"][name="machine_id"][form="bulk-form"]'));
  }
  function allMatchingBox() { var f = bulkForm(); return f ? f.querySelector('input[name="all_matching"]') : null; }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // applySelection ticks the rendered rows from the stored selection, adds
  // the ticked machines of other pages to the form, and updates the count.
  function applySelection() {
    var form = bulkForm();
    if (!form) { return; }
    var ids = loadSel();
    var set = {};
    ids.forEach(function (id) { set[id] = true; });
    var onPage = {};
    var boxes = rowBoxes();
    var ticked = 0;
    boxes.forEach(function (b) {
      onPage[b.value] = true;
      b.checked = !!set[b.value];
      if (b.checked) { ticked++; }
    });
    var off = form.querySelector("[data-bulk-offpage]");
    if (off) {
      off.textContent = "";
      ids.forEach(function (id) {
        if (!onPage[id]) {
          var h = document.createElement("input");
          h.type = "hidden";
          h.name = "machine_id";
          h.value = id;
          off.appendChild(h);
        }
      });
    }
    var page = document.querySelector("[data-select-page]");
    if (page) {
      page.checked = boxes.length > 0 && ticked === boxes.length;
      page.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var count = document.getElementById("bulk-count");
    if (count) {
      var all = allMatchingBox();
      var text;
      if (all && all.checked) {
        var n = parseInt(all.getAttribute("data-count") || "0", 10);
        text = n > 0 ? "All " + plural(n, "machine", "machines") + " matching the filter selected" : "All machines matching the filter selected";
      } else if (ids.length === 0) {
        text = "No machines selected";
      } else {
        text = ids.length + " selected";
        if (ids.length > ticked) { text += " (" + (ids.length - ticked) + " on other pages)"; }
      }
      if (count.textContent !== text) { count.textContent = text; }
    }
    var clear = form.querySelector("[data-bulk-clear]");
    if (clear) { clear.disabled = ids.length === 0 && !(allMatchingBox() && allMatchingBox().checked); }
  }

  function setTicked(values, on) {
    var ids = loadSel();
    values.forEach(function (v) {
      var i = ids.indexOf(v);
      if (on && i < 0) { ids.push(v); }
      if (!on && i >= 0) { ids.splice(i, 1); }
    });
    saveSel(ids);
  }

  document.addEventListener("change", function (evt) {
    var t = evt.target;
    if (!(t instanceof HTMLInputElement) || t.type !== "checkbox") { return; }
    if (t.name === "machine_id" && t.getAttribute("form") === "bulk-form") {
      setTicked([t.value], t.checked);
      applySelection();
    } else if (t.hasAttribute("data-select-page")) {
      setTicked(rowBoxes().map(function (b) { return b.value; }), t.checked);
      applySelection();
    } else if (t.name === "all_matching" && t.form === bulkForm()) {
      applySelection();
    } else if (t.hasAttribute("data-col")) {
      var prefs = loadCols();
      prefs[t.getAttribute("data-col")] = t.checked;
      saveCols(prefs);
      applyCols();
    }
  });
  document.addEventListener("click", function (evt) {
    var b = evt.target instanceof Element ? evt.target.closest("[data-bulk-clear]") : null;
    if (!b) { return; }
    saveSel([]);
    var all = allMatchingBox();
    if (all) { all.checked = false; }
    applySelection();
  });

  // Starting a bulk operation uses up the selection it was made from.
  document.addEventListener("submit", function (evt) {
    var f = evt.target;
    var k = f instanceof HTMLFormElement ? f.getAttribute("data-clear-selection") : null;
    if (k) {
      try { window.sessionStorage.removeItem(k); } catch (e) { /* ignore */ }
    }
  });

  // ---- Column chooser: the choice per column in localStorage ----
  var colsKey = "fleet-columns";
  function loadCols() {
    try {
      var v = JSON.parse(window.localStorage.getItem(colsKey) || "{}");
      return v && typeof v === "object" ? v : {};
    } catch (e) {
      return {};
    }
  }
  function saveCols(v) {
    try { window.localStorage.setItem(colsKey, JSON.stringify(v)); } catch (e) { /* ignore */ }
  }
  function applyCols() {
    var prefs = loadCols();
    var wide = window.matchMedia ? window.matchMedia("(min-width: 1025px)").matches : true;
    document.querySelectorAll("[data-col-chooser] input[data-col]").forEach(function (box) {
      var key = box.getAttribute("data-col");
      box.checked = key in prefs ? !!prefs[key] : wide;
      document.querySelectorAll('[data-testid="machines-table"]').forEach(function (table) {
        table.classList.toggle("col-show-" + key, prefs[key] === true);
        table.classList.toggle("col-hide-" + key, prefs[key] === false);
      });
    });
  }
  window.addEventListener("resize", applyCols);

  // ---- Focus stays on the control used when htmx replaces it ----
  var lastFocus = null;
  function describe(el) {
    if (!el || el === document.body) { return null; }
    var row = el.closest("[data-machine-id]");
    return {
      id: el.id || "",
      testid: el.getAttribute("data-testid") || "",
      machine: row ? row.getAttribute("data-machine-id") : "",
      rel: el.getAttribute("rel") || ""
    };
  }
  function findLike(d) {
    var el = null;
    if (d.id) { el = document.getElementById(d.id); }
    if (!el && d.testid) {
      var sel = '[data-testid="' + d.testid + '"]';
      if (d.machine) {
        el = document.querySelector('[data-machine-id="' + d.machine + '"] ' + sel);
      } else {
        el = document.querySelector(sel);
      }
    }
    if (el && (el.getAttribute("aria-disabled") === "true" || el.disabled || el.tagName === "SPAN")) {
      // Next became a disabled span on the last page: the other link, or
      // the results themselves.
      var other = d.rel === "next" ? document.querySelector('a[data-testid="page-prev"]') : document.querySelector('a[data-testid="page-next"]');
      el = other || null;
    }
    return el;
  }
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    var a = document.activeElement;
    lastFocus = null;
    if (target && a && a !== document.body && target.contains(a)) {
      lastFocus = { d: describe(a), targetId: target.id || "" };
    }
  });
  // The single htmx:afterSettle handler (with the action focus, above)
  // takes the focus a swap took away and restores it through these hooks.
  window.vagonFocus = window.vagonFocus || {};
  window.vagonFocus.takeLost = function () {
    var f = lastFocus;
    lastFocus = null;
    return f;
  };
  window.vagonFocus.restoreLost = restoreLostFocus;
  function restoreLostFocus(f) {
    var a = document.activeElement;
    if (a && a !== document.body && document.contains(a)) { return; } // focus survived
    var el = f.d ? findLike(f.d) : null;
    if (!el && f.targetId) {
      // The control is gone (a deleted item): the target's fallback, or the
      // target itself when it takes focus.
      var t = document.getElementById(f.targetId);
      el = t ? t.querySelector("[data-focus-fallback]") : null;
      if (!el && t && t.hasAttribute("tabindex")) { el = t; }
    }
    if (el) { el.focus({ preventScroll: true }); }
  }

  // ---- "/" focuses the search, unless typing somewhere ----
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "/" || evt.ctrlKey || evt.metaKey || evt.altKey || evt.defaultPrevented) { return; }
    var t = evt.target;
    if (t instanceof Element && (t.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") || t.isContentEditable)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var search = document.querySelector('[role="search"] input[type="search"]');
    if (!search) { return; }
    evt.preventDefault();
    search.focus();
    search.select();
  });

  // ---- Quiet refresh of the visible fleet page ----
  // Every data-autorefresh seconds while the tab is visible, the page's own
  // URL is fetched as a fragment (the server answers from its short cache);
  // rows whose data-rev changed are replaced, new ones added, gone ones
  // removed. Ticks, focus and scroll stay: unchanged rows are not touched,
  // and a replaced row gets its tick and focus back.
  var refreshing = false;
  var lastRefresh = Date.now();
  function results() { return document.querySelector("[data-autorefresh]"); }
  function busy() {
    return refreshing || document.hidden || document.querySelector(".htmx-request") || document.querySelector("dialog[open]");
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") || "" : "";
  }
  function settle(el) {
    if (window.htmx) { window.htmx.process(el); }
    el.dispatchEvent(new CustomEvent("htmx:load", { bubbles: true, detail: { elt: el } }));
  }
  function refreshNow() {
    var cur = results();
    if (!cur || busy() || !window.fetch) { return; }
    refreshing = true;
    var url = window.location.pathname + window.location.search;
    window.fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-Fleet-Refresh": "1", "X-CSRF-Token": csrf() }
    }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      lastRefresh = Date.now();
      if (html === null || window.location.pathname + window.location.search !== url || document.querySelector(".htmx-request")) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById(cur.id);
      if (fresh) { merge(cur, fresh); }
    }).catch(function () { /* offline: try again next time */ }).then(function () {
      refreshing = false;
    });
  }
  function merge(cur, fresh) {
    var oldBody = cur.querySelector('[data-testid="machines-table"] > tbody');
    var newBody = fresh.querySelector('[data-testid="machines-table"] > tbody');
    var focused = document.activeElement;
    if (!oldBody || !newBody) {
      // Empty state, error or first rows: swap the whole results unless the
      // user is in them.
      if (!cur.contains(focused) && !cur.isEqualNode(fresh)) {
        var el = document.importNode(fresh, true);
        cur.replaceWith(el);
        settle(el);
      }
      return;
    }
    var oldRows = {};
    Array.prototype.forEach.call(oldBody.children, function (tr) { oldRows[tr.getAttribute("data-machine-id")] = tr; });
    var keep = {};
    var refocus = null;
    var cursor = oldBody.firstElementChild;
    Array.prototype.forEach.call(newBody.children, function (nr) {
      var id = nr.getAttribute("data-machine-id");
      keep[id] = true;
      var or = oldRows[id];
      var row = or;
      if (!or || or.getAttribute("data-rev") !== nr.getAttribute("data-rev")) {
        row = document.importNode(nr, true);
        if (or) {
          if (or.contains(focused)) { refocus = describe(focused); }
          or.replaceWith(row);
          if (cursor === or) { cursor = row; }
        } else {
          oldBody.insertBefore(row, cursor);
        }
        settle(row);
      } else if (row !== cursor) {
        oldBody.insertBefore(row, cursor);
      }
      cursor = row.nextElementSibling;
    });
    Array.prototype.slice.call(oldBody.children).forEach(function (tr) {
      if (!keep[tr.getAttribute("data-machine-id")]) {
        if (tr.contains(focused)) { refocus = { id: cur.id }; }
        tr.remove();
      }
    });
    // The paging line and counts follow; links are replaced only when the
    // user is not on them.
    var info = cur.querySelector('[data-testid="pagination-info"]');
    var newInfo = fresh.querySelector('[data-testid="pagination-info"]');
    if (info && newInfo && info.textContent !== newInfo.textContent) { info.textContent = newInfo.textContent; }
    var pag = cur.querySelector('[data-testid="pagination"]');
    var newPag = fresh.querySelector('[data-testid="pagination"]');
    if (pag && newPag && !pag.contains(focused) && !pag.isEqualNode(newPag)) {
      var p = document.importNode(newPag, true);
      pag.replaceWith(p);
      settle(p);
    }
    cur.setAttribute("data-count", fresh.getAttribute("data-count") || "");
    var all = allMatchingBox();
    var n = fresh.getAttribute("data-count");
    if (all && n && all.getAttribute("data-count") !== n) {
      all.setAttribute("data-count", n);
      var label = all.parentNode;
      if (label && label.lastChild && label.lastChild.nodeType === 3) {
        label.lastChild.textContent = " All " + plural(parseInt(n, 10), "machine", "machines") + " matching the filter (every page)";
      }
    }
    applySelection();
    if (refocus) {
      var el = findLike(refocus) || (refocus.id ? document.getElementById(refocus.id) : null);
      if (el) { el.focus({ preventScroll: true }); }
    } else if (focused && focused !== document.body && document.contains(focused) && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
    }
  }
  function tick() {
    var cur = results();
    if (!cur) { return; }
    var every = Math.max(5, parseInt(cur.getAttribute("data-autorefresh") || "12", 10)) * 1000;
    if (Date.now() - lastRefresh >= every) { refreshNow(); }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { tick(); }
  });
  // A swap by the user (filter, paging) is fresh: the next refresh waits.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "machines-results") { lastRefresh = Date.now(); }
  });

  function enhance9(root) {
    labelCells(root);
    applySelection();
    applyCols();
  }
  document.addEventListener("htmx:load", function (evt) {
    enhance9(evt.target instanceof Element ? evt.target : document);
  });
  function start() {
    enhance9(document);
    window.setInterval(tick, 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
