// Applies the saved theme before the page paints (no flash of the wrong
// theme). Loaded synchronously in <head>; no inline scripts are allowed.
(function () {
  try {
    var t = localStorage.getItem("ym-theme");
    if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage disabled: follow the system */ }
})();
