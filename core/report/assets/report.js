"use strict";
// Pages the flow table, and opens what an in-page link points at. Reads and
// writes nothing but this document's own elements; no text from the data is
// ever parsed as markup.
(function () {
  var PAGE = 50;
  var rows = Array.prototype.slice.call(document.querySelectorAll("#flowtable tbody tr"));
  var pager = document.getElementById("pager");
  var info = document.getElementById("pageinfo");
  var page = 0;
  var pages = Math.max(1, Math.ceil(rows.length / PAGE));
  function show(p) {
    page = Math.min(Math.max(p, 0), pages - 1);
    rows.forEach(function (r, i) {
      r.classList.toggle("hidden", Math.floor(i / PAGE) !== page);
    });
    info.textContent = "page " + (page + 1) + " of " + pages + " (" + rows.length + " flows)";
  }
  if (rows.length > PAGE) {
    pager.hidden = false;
    document.getElementById("prev").addEventListener("click", function () { show(page - 1); });
    document.getElementById("next").addEventListener("click", function () { show(page + 1); });
    show(0);
  }
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    var i = rows.indexOf(el);
    if (i >= 0) show(Math.floor(i / PAGE));
    var d = el.closest("details");
    if (d) d.open = true;
    el.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
