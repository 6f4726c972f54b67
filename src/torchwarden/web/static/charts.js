// Step-time and memory timelines of one run, drawn with the vendored uPlot.
// Points arrive as [step, rank, time_s, {device: bytes}] from live.js.
"use strict";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

function bytes(value) {
  if (value === null || value === undefined) return "";
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
  return `${value.toPrecision(4).replace(/\.?0+$/, "")} ${UNITS[unit]}`;
}

// Axis ticks in one unit, with as many decimals as the tick spacing needs.
function bytesAxis(u, ticks, axis, space, incr) {
  const top = Math.max(...ticks.map(Math.abs), 1);
  const unit = Math.min(Math.floor(Math.log2(top) / 10), UNITS.length - 1);
  const step = incr / 1024 ** unit;
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step))));
  return ticks.map((t) => `${(t / 1024 ** unit).toFixed(decimals)} ${UNITS[unit]}`);
}

function millisAxis(u, ticks, axis, space, incr) {
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(incr))));
  return ticks.map((t) => `${t.toFixed(decimals)} ms`);
}

function millis(value) {
  return value === null || value === undefined ? "" : `${value.toPrecision(3)} ms`;
}
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
const COLORS = ["#2f6fdf", "#d9534f", "#3a9d5d", "#e69f00", "#8e44ad", "#17a2b8", "#795548"];

class Timeline {
  constructor(el, format, axis, scale) {
    this.el = el;
    this.format = format;
    this.axis = axis;
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
      value: (u, v) => this.format(v),
    })));
    const opts = {
      width: Math.max(320, this.el.clientWidth), height: 240, series,
      scales: { x: { time: false } },
      axes: [
        { label: "step", incrs: STEP_INCRS },
        { size: 90, values: this.axis },
      ],
      legend: { live: false },
    };
    this.plot = new uPlot(opts, this.data(), this.el);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const time = new Timeline(document.querySelector('[data-chart="time"]'), millis, millisAxis, 1000);
  const memory = new Timeline(document.querySelector('[data-chart="memory"]'), bytes, bytesAxis, 1);
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
