// Yardmaster console behaviour: CSRF header for htmx, keyboard shortcuts,
// row selection that survives live updates, theme switch, confirmations,
// copy buttons and error toasts. No framework; the pages work without it
// (forms post normally), this only makes them faster to use.
(function () {
  "use strict";
  var doc = document;

  function csrf() {
    var m = doc.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token.
  doc.addEventListener("htmx:configRequest", function (e) {
    var t = csrf();
    if (t) e.detail.headers["X-CSRF-Token"] = t;
  });

  // Errors from htmx requests are shown, not swallowed.
  var toastTimer;
  function toast(msg, isError) {
    var el = doc.getElementById("toast");
    if (!el) return;
    el.textContent = msg;
    el.className = isError ? "error" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, isError ? 8000 : 4000);
  }
  window.ymToast = toast;
  doc.addEventListener("htmx:responseError", function (e) {
    var x = e.detail.xhr;
    var text = (x && x.responseText) || "Request failed";
    if (text.length > 400) text = text.slice(0, 400) + "…";
    toast(text, true);
  });
  doc.addEventListener("htmx:sendError", function () { toast("The server could not be reached.", true); });

  // Confirmations for destructive forms.
  doc.addEventListener("submit", function (e) {
    var f = e.target;
    var msg = (e.submitter && e.submitter.getAttribute("data-confirm")) || (f.getAttribute && f.getAttribute("data-confirm"));
    if (msg && !window.confirm(msg)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  doc.addEventListener("htmx:confirm", function (e) {
    var f = e.target.closest && e.target.closest("[data-confirm]");
    if (f && !window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
  });

  // Copy buttons for secrets shown once.
  doc.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-copy]");
    if (!b) return;
    var src = doc.querySelector(b.getAttribute("data-copy"));
    if (!src || !navigator.clipboard) return;
    navigator.clipboard.writeText(src.textContent.trim()).then(function () { toast("Copied."); });
  });

  // Theme: follow the system until the user picks one.
  function currentTheme() {
    var t = doc.documentElement.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  doc.addEventListener("click", function (e) {
    if (!e.target.closest || !e.target.closest("#theme-toggle")) return;
    var next = currentTheme() === "dark" ? "light" : "dark";
    doc.documentElement.setAttribute("data-theme", next);
    try { localStorage.setItem("ym-theme", next); } catch (err) { /* ignore */ }
  });

  // Help dialog.
  function help() {
    var d = doc.getElementById("help");
    if (d && d.showModal && !d.open) d.showModal();
  }
  doc.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-help]")) help();
  });

  // Local times: absolute timestamps are shown in the browser's time zone.
  function localize(root) {
    (root || doc).querySelectorAll("time[data-local]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
    });
  }

  // Selection: checked row ids survive live refreshes of the list.
  var selected = new Set();
  function syncSelection(root) {
    (root || doc).querySelectorAll('input[type="checkbox"][data-select]').forEach(function (cb) {
      cb.checked = selected.has(cb.value);
      var tr = cb.closest("tr");
      if (tr) tr.classList.toggle("checked", cb.checked);
    });
    var n = selected.size;
    doc.querySelectorAll("[data-selected-count]").forEach(function (el) { el.textContent = String(n); });
    doc.querySelectorAll("[data-bulk]").forEach(function (el) { el.hidden = n === 0; });
    doc.querySelectorAll("[data-bulk-ids]").forEach(function (form) {
      form.querySelectorAll('input[name="ids"]').forEach(function (i) { i.remove(); });
      selected.forEach(function (id) {
        var i = doc.createElement("input");
        i.type = "hidden"; i.name = "ids"; i.value = id;
        form.appendChild(i);
      });
    });
    var all = doc.querySelector("[data-select-all]");
    if (all) {
      var boxes = doc.querySelectorAll('input[type="checkbox"][data-select]');
      all.checked = boxes.length > 0 && Array.prototype.every.call(boxes, function (b) { return b.checked; });
    }
  }
  doc.addEventListener("change", function (e) {
    var cb = e.target;
    if (cb.matches && cb.matches("[data-select]")) {
      if (cb.checked) selected.add(cb.value); else selected.delete(cb.value);
      syncSelection();
    } else if (cb.matches && cb.matches("[data-select-all]")) {
      doc.querySelectorAll('input[type="checkbox"][data-select]').forEach(function (b) {
        if (cb.checked) selected.add(b.value); else selected.delete(b.value);
      });
      syncSelection();
    }
  });
  doc.addEventListener("ym:clear-selection", function () { selected.clear(); syncSelection(); });
  doc.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-clear-selection]")) { selected.clear(); syncSelection(); }
  });

  // Keyboard: j/k move through rows, Enter/o opens, x selects; a, s and r
  // press the element marked with data-key (the bulk bar when rows are
  // selected, else the current row, else the page).
  var current = -1;
  function rows() { return Array.prototype.slice.call(doc.querySelectorAll("[data-rows] tr[data-href]")); }
  function currentId() {
    var r = rows()[current];
    return r ? r.getAttribute("data-id") : null;
  }
  function setCurrent(i, keepFocus) {
    var rs = rows();
    if (!rs.length) return;
    i = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r) { r.classList.remove("current"); r.removeAttribute("aria-selected"); });
    current = i;
    rs[i].classList.add("current");
    rs[i].setAttribute("aria-selected", "true");
    if (keepFocus) return;
    var link = rs[i].querySelector("a");
    if (link) link.focus({ preventScroll: true });
    rs[i].scrollIntoView({ block: "nearest" });
  }
  function press(key) {
    var el = null;
    // With nothing selected, a bulk key acts on the current row.
    if (!selected.size && doc.querySelector('[data-bulk] [data-key="' + key + '"]')) {
      var cur = rows()[current];
      var cb = cur && cur.querySelector("[data-select]");
      if (cb) { selected.add(cb.value); syncSelection(); }
    }
    if (selected.size) el = doc.querySelector('[data-bulk] [data-key="' + key + '"]');
    if (!el) { var r = rows()[current]; if (r) el = r.querySelector('[data-key="' + key + '"]'); }
    if (!el) el = doc.querySelector('[data-page-key="' + key + '"]');
    if (el) { el.focus(); el.click(); return true; }
    return false;
  }
  doc.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (e.key === "Escape") {
      if (typing) t.blur();
      return;
    }
    if (typing) return;
    switch (e.key) {
      case "?": help(); break;
      case "j": setCurrent(current + 1); break;
      case "k": setCurrent(current < 0 ? 0 : current - 1); break;
      case "Enter": case "o": {
        var r = rows()[current];
        if (!r || (e.key === "Enter" && t && t.tagName === "A")) return;
        window.location.href = r.getAttribute("data-href");
        break;
      }
      case "x": {
        var row = rows()[current];
        var cb = row && row.querySelector("[data-select]");
        if (cb) { cb.checked = !cb.checked; cb.dispatchEvent(new Event("change", { bubbles: true })); }
        break;
      }
      case "/": {
        var s = doc.querySelector("[data-search]");
        if (s) s.focus(); else return;
        break;
      }
      case "a": case "s": case "r":
        if (!press(e.key)) return;
        break;
      default: return;
    }
    e.preventDefault();
  });

  // After htmx swaps new content in: keep selection and the current row.
  doc.addEventListener("htmx:afterSwap", function (e) {
    var id = currentId();
    syncSelection(e.target);
    localize(e.target);
    if (id) {
      var rs = rows();
      for (var i = 0; i < rs.length; i++) if (rs[i].getAttribute("data-id") === id) { setCurrent(i, true); return; }
    }
  });

  // The propose form shows the fields of the chosen action type only.
  function showActionFields() {
    var sel = doc.querySelector("[data-action-type]");
    if (!sel) return;
    doc.querySelectorAll("[data-for-type]").forEach(function (fs) {
      var on = fs.getAttribute("data-for-type") === sel.value;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }
  doc.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-action-type]")) showActionFields();
  });

  doc.addEventListener("DOMContentLoaded", function () {
    showActionFields();
    localize(doc);
    syncSelection(doc);
  });
})();
