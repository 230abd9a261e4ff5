// The agency console's little script: the batch page's live progress bar (polls the batch's
// progress resource; the page works without it through its refresh link), and focus on the
// error summary of a refused form.
(function () {
  "use strict";

  function words(state) {
    var box = document.getElementById("state-words");
    return (box && box.dataset[state]) || state;
  }

  function poll(section) {
    var url = section.dataset.progress;
    var bar = document.getElementById("bar");
    var pct = document.getElementById("percent-value");
    var state = document.getElementById("state");
    var counts = document.getElementById("counts");
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (p) {
          var value = Math.round(p.percent);
          bar.value = value;
          bar.textContent = value + "%";
          pct.textContent = String(value);
          state.textContent = words(p.state);
          counts.textContent = counts.dataset.template
            .replace("{total}", p.total).replace("{issued}", p.issued).replace("{failed}", p.failed);
          if (p.done || p.state === "interrupted") {
            window.location.reload(); // the finished page brings the report (or the resume button)
          } else {
            window.setTimeout(tick, 500);
          }
        })
        .catch(function () { window.setTimeout(tick, 2000); });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var batch = document.getElementById("batch");
    if (batch && batch.dataset.done === "false") {
      poll(batch);
    }
    var summary = document.getElementById("errors");
    if (summary) {
      summary.focus();
    }
  });
})();
