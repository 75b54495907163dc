// pgqrs dashboard: confirmations for actions, and the charts (uPlot), fed from /api/throughput.
// No inline script anywhere: the page's Content-Security-Policy allows only files of the dashboard.
(function () {
  "use strict";

  // Every action form asks first; a cancelled one is not sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.dataset ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // Over all queues the chart shows what was enqueued and what finished per second; a queue's
  // chart, which has no enqueue count, what was archived or dead-lettered per second.
  function seriesOf(data) {
    if (data.enqueued_per_second) {
      return [data.t, data.messages_held, data.enqueued_per_second, data.finished_per_second];
    }
    return [data.t, data.messages_held, data.archived_and_dead_per_second];
  }

  function rateSeries(data) {
    if (data.enqueued_per_second) {
      return [
        { label: "enqueued per second", scale: "rate", stroke: "#b54708", width: 2, spanGaps: false },
        { label: "finished per second", scale: "rate", stroke: "#067647", width: 2, spanGaps: false }
      ];
    }
    return [{ label: "archived + dead-lettered per second", scale: "rate", stroke: "#067647", width: 2,
              spanGaps: false }];
  }

  function startChart(el) {
    var src = el.dataset.chart;
    var every = Math.max(1, parseFloat(el.dataset.interval || "2")) * 1000;
    var plot = null;

    function draw(data) {
      if (!data.t.length) {
        el.innerHTML = '<p class="empty">No reading yet.</p>';
        return;
      }
      if (plot === null) {
        el.innerHTML = "";
        plot = new uPlot({
          width: Math.max(300, el.clientWidth - 10),
          height: 220,
          scales: { x: { time: true }, held: {}, rate: {} },
          axes: [
            {},
            { scale: "held", label: "messages held" },
            { scale: "rate", side: 1, label: "per second", grid: { show: false } }
          ],
          series: [
            {},
            { label: "messages held (ready + in flight + delayed)", scale: "held", stroke: "#2f6fde", width: 2 }
          ].concat(rateSeries(data))
        }, seriesOf(data), el);
      } else {
        plot.setData(seriesOf(data));
      }
      el.dataset.points = String(data.t.length);
    }

    function refresh() {
      fetch(src, { credentials: "same-origin", headers: { "accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { draw(data); } })
        .catch(function () { /* the next round tries again */ });
    }

    refresh();
    window.setInterval(refresh, every);
    window.addEventListener("resize", function () {
      if (plot) { plot.setSize({ width: Math.max(300, el.clientWidth - 10), height: 220 }); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(startChart);
  });
})();
