/* 督办驾驶舱: draws the charts. Each chart is a <div data-chart='{json}'>; no inline scripts
   (the Content-Security-Policy allows scripts from this folder only). ECharts is loaded
   before this file (both deferred). */
(function () {
  "use strict";
  var COLORS = { red: "#d9363e", yellow: "#e6a700", green: "#2e9d5b", grey: "#9aa0a6", done: "#3e7bfa", paused: "#8e8e93" };
  var FONT = '"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif';

  function lights(spec) {
    var data = spec.data.filter(function (d) { return d[1] > 0; }).map(function (d) {
      return { name: d[0], value: d[1], itemStyle: { color: COLORS[d[2]] } };
    });
    var dark = !!spec.big;                       // the 大屏's dark theme
    var big = dark && window.innerWidth >= 1200;  // and its large type on a real screen
    return {
      textStyle: { fontFamily: FONT, color: dark ? "#e8eefc" : "#1f2329" },
      tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: ["45%", "72%"], data: data, avoidLabelOverlap: true,
        label: { formatter: "{b} {c}", fontSize: big ? 20 : 12, color: dark ? "#e8eefc" : "#1f2329" } }]
    };
  }

  function teams(spec) {
    var narrow = window.innerWidth < 1200;
    return {
      textStyle: { fontFamily: FONT, color: "#e8eefc" },
      legend: { top: 0, textStyle: { color: "#e8eefc", fontSize: narrow ? 12 : 18 } },
      grid: { left: narrow ? 90 : 150, right: 20, top: narrow ? 56 : 44, bottom: 30 },
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: "#9fb3d9", fontSize: 16 }, splitLine: { lineStyle: { color: "#1f3f73" } } },
      yAxis: { type: "category", inverse: true, data: spec.teams, axisLabel: { color: "#e8eefc", fontSize: narrow ? 12 : 17 } },
      series: spec.series.map(function (s) {
        return { name: s[0], type: "bar", stack: "all", data: s[2], itemStyle: { color: COLORS[s[1]] }, barMaxWidth: 26 };
      })
    };
  }

  function buckets(spec) {
    return {
      textStyle: { fontFamily: FONT },
      grid: { left: 40, right: 10, top: 20, bottom: 30 },
      xAxis: { type: "category", data: spec.data.map(function (d) { return d[0]; }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: spec.data.map(function (d) { return d[1]; }), itemStyle: { color: COLORS.red } }]
    };
  }

  function progress(spec) {
    var scheduled = spec.start && spec.deadline;
    var series = [{ name: "进度", type: "line", step: "end", data: spec.points.slice(), itemStyle: { color: COLORS.done } }];
    if (scheduled) {
      series.unshift({ name: "序时进度", type: "line", data: [[spec.start, 0], [spec.deadline, 100]], symbol: "none",
        lineStyle: { type: "dashed", color: COLORS.grey }, itemStyle: { color: COLORS.grey },
        markLine: { symbol: "none", label: { formatter: "今天" }, lineStyle: { color: COLORS.red }, data: [{ xAxis: spec.today }] } });
    }
    return {
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: scheduled ? ["进度", "序时进度"] : ["进度"] },
      grid: { left: 40, right: 16, top: 30, bottom: 30 },
      xAxis: { type: "time", min: scheduled ? spec.start : undefined,
        max: scheduled ? (spec.today > spec.deadline ? spec.today : spec.deadline) : undefined },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: series
    };
  }

  function indicator(spec) {
    return {
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 16, top: 34, bottom: 40 },
      xAxis: { type: "category", data: spec.points.map(function (p) { return p[0]; }), axisLabel: { interval: 0, fontSize: 11 } },
      yAxis: { type: "value", name: spec.unit },
      series: [{ type: "bar", barMaxWidth: 48, label: { show: true, position: "top" },
        data: spec.points.map(function (p) {
          return { value: Math.round(p[1] * 100) / 100, itemStyle: { color: p[2] ? "#c9cdd4" : "#b4232a" } };
        }) }]
    };
  }

  var BUILDERS = { lights: lights, teams: teams, buckets: buckets, progress: progress, indicator: indicator };
  var charts = [];

  function draw(el) {
    if (el.getAttribute("data-drawn") || !window.echarts) { return; }
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    var build = BUILDERS[spec.type];
    if (!build) { return; }
    el.setAttribute("data-drawn", "1");
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(build(spec));
    charts.push(chart);
  }

  function start() {
    var all = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      var details = el.closest ? el.closest("details") : null;
      if (details && !details.open) {
        details.addEventListener("toggle", (function (target, d) {
          return function () { if (d.open) { draw(target); } };
        })(el, details));
      } else {
        draw(el);
      }
    }
    window.addEventListener("resize", function () {
      for (var j = 0; j < charts.length; j++) { charts[j].resize(); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
