// Seatmeter's own script: the little the pages need beyond htmx.
// No inline scripts anywhere (the pages forbid them); everything is here.
"use strict";

// htmx requests carry the web session's CSRF token, as forms do.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.body.dataset.csrfToken;
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token;
  }
});

// A canvas with data-chart draws the JSON of the script it names:
// {"labels": [...], "datasets": [{"label": ..., "data": [...]}]}.
function drawCharts(root) {
  if (typeof Chart === "undefined") {
    return;
  }
  root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.source);
    if (!source || canvas.chart) {
      return;
    }
    const data = JSON.parse(source.textContent);
    canvas.chart = new Chart(canvas, {
      type: canvas.dataset.chart,
      data: data,
      options: {
        animation: false,
        color: "#1d2430",
        backgroundColor: "rgba(15, 108, 140, 0.55)",
        borderColor: "#0f6c8c",
        datasets: { bar: { maxBarThickness: 48 } },
        maintainAspectRatio: false,
        plugins: { legend: { display: data.datasets.length > 1 } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  });
}

// "Select all" boxes tick every box of the list they name.
document.addEventListener("change", (event) => {
  const all = event.target.closest("input[data-select-all]");
  if (all) {
    document
      .querySelectorAll(`input[name="${all.dataset.selectAll}"]`)
      .forEach((box) => { box.checked = all.checked; });
  }
});

// Buttons with data-confirm ask before their form is sent.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
