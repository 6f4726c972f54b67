// Step-time and memory timelines of one run, drawn with the vendored uPlot.
// Points arrive as [step, rank, time_s, {device: bytes}] from live.js.
"use strict";

const GIB = 2 ** 30;
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
const COLORS = ["#2f6fdf", "#d9534f", "#3a9d5d", "#e69f00", "#8e44ad", "#17a2b8", "#795548"];

class Timeline {
  constructor(el, yLabel, scale) {
    this.el = el;
    this.yLabel = yLabel;
    this.scale = scale;
    this.rows = new Map(); // step -> {series key: value}
    this.keys = [];
    this.plot = null;
  }

  add(step, key, value) {
    if (value === null || value === undefined) return;
    if (!this.keys.includes(key)) this.keys.push(key);
    if (!this.rows.has(step)) this.rows.set(step, {});
    this.rows.get(step)[key] = value * this.scale;
  }

  data() {
    const steps = [...this.rows.keys()].sort((a, b) => a - b);
    const columns = this.keys.map((k) => steps.map((s) => this.rows.get(s)[k] ?? null));
    return [steps, ...columns];
  }

  draw() {
    if (!this.rows.size) return;
    const keys = this.keys.join("|");
    if (this.plot && this.plotKeys === keys) {
      this.plot.setData(this.data());
      return;
    }
    if (this.plot) this.plot.destroy();
    this.plotKeys = keys;
    const series = [{ label: "step" }].concat(this.keys.map((k, i) => ({
      label: k, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
    })));
    const opts = {
      width: Math.max(320, this.el.clientWidth), height: 240, series,
      scales: { x: { time: false } },
      axes: [{ label: "step", incrs: STEP_INCRS }, { label: this.yLabel, size: 60 }],
    };
    this.plot = new uPlot(opts, this.data(), this.el);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const time = new Timeline(document.querySelector('[data-chart="time"]'), "ms", 1000);
  const memory = new Timeline(document.querySelector('[data-chart="memory"]'), "GiB", 1 / GIB);
  document.addEventListener("tw-points", (e) => {
    for (const [step, rank, seconds, devices] of e.detail) {
      time.add(step, `rank ${rank}`, seconds);
      for (const [device, bytes] of Object.entries(devices)) {
        memory.add(step, `rank ${rank} ${device}`, bytes);
      }
    }
    time.draw();
    memory.draw();
    document.body.dataset.points = String(time.rows.size);
  });
});
