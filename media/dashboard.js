// The ReST-EM dashboard page (webview script of src/ui/dashboardPanel.ts): renders the
// DashboardData the host posts (src/ui/dashboardModel.ts) as SVG line charts, tables and a
// live progress bar. Plain browser JavaScript, no libraries; DOM built with createElement (no
// innerHTML), geometry in SVG attributes and colours in dashboard.css (the CSP allows no inline
// styles). State survives hiding the panel through vscode.setState.
/* global acquireVsCodeApi */
(function () {
  "use strict";

  const vscode = acquireVsCodeApi();
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART = { width: 420, height: 220, left: 46, right: 14, top: 14, bottom: 34 };
  const PHASE_NAMES = { eval: "evaluation", estep: "E-step (sampling)", filter: "filter", mstep: "M-step (training)" };

  /** @type {{runId: string|null, runIds: string[], data: any, live: any, error: {runId: string, message: string}|null}} */
  const state = Object.assign({ runId: null, runIds: [], data: null, live: null, error: null }, vscode.getState() || {});

  // ---- DOM helpers -------------------------------------------------------------------------

  /** An HTML element with attributes (null/undefined skipped) and children (strings become text). */
  function html(tag, attrs, children) {
    return fill(document.createElement(tag), attrs, children);
  }

  function svg(tag, attrs, children) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function byId(id) {
    return /** @type {HTMLElement} */ (document.getElementById(id));
  }

  // ---- formatting --------------------------------------------------------------------------

  const DASH = "\u2014";
  const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
  const percent = (value) => (isNumber(value) ? `${(value * 100).toFixed(1)}%` : DASH);
  const percentTick = (value) => `${Number((value * 100).toFixed(1))}%`;
  const points = (value) => (isNumber(value) ? `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)} pts` : DASH);
  const decimal = (value, digits) => (isNumber(value) ? value.toFixed(digits) : DASH);
  const integer = (value) => (isNumber(value) ? String(Math.round(value)) : DASH);
  const phaseName = (phase) => PHASE_NAMES[phase] || phase;

  // ---- scales and ticks --------------------------------------------------------------------

  /** A tick spacing of 1, 2 or 5 times a power of ten, about range / count. */
  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const multiple = [1, 2, 5, 10].find((m) => m * power >= raw) || 10;
    return multiple * power;
  }

  function ticks(min, max, count, integers) {
    const step = integers ? Math.max(1, Math.ceil(niceStep(max - min, count))) : niceStep(max - min, count);
    const list = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) list.push(Number(v.toFixed(10)));
    return list;
  }

  /** Linear map of [d0, d1] onto [r0, r1] (a degenerate domain maps to the middle). */
  function scale(d0, d1, r0, r1) {
    return (v) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0));
  }

  // ---- charts ------------------------------------------------------------------------------

  /** A figure with a title, data-chart id and a note instead of a chart. */
  function emptyFigure(chartId, title, note) {
    return html("figure", { class: "chart", "data-chart": chartId, "data-empty": "true" }, [
      html("figcaption", {}, [title]),
      html("p", { class: "empty" }, [note]),
    ]);
  }

  /**
   * A line chart. spec: {id, title, xLabel, series: [{key, label, points: [{x, y, best?}]}],
   * yRange: [min, max] | null (auto), yFormat, xDomain: [min, max] | null, integerX, extra(sx, sy)}.
   */
  function lineChart(spec) {
    const all = spec.series.flatMap((s) => s.points);
    const xs = all.map((p) => p.x);
    const ys = all.map((p) => p.y);
    const [x0, x1] = spec.xDomain || [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = spec.yRange || autoRange(ys);
    const sx = scale(x0, x1, CHART.left, CHART.width - CHART.right);
    const sy = scale(y0, y1, CHART.height - CHART.bottom, CHART.top);
    const plot = svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, class: "plot", role: "img", "aria-label": spec.title }, [
      ...yAxis(ticks(y0, y1, 4, false), sy, spec.yFormat),
      ...xAxis(x1 > x0 ? ticks(x0, x1, 6, spec.integerX) : [x0], sx, spec.xLabel),
      ...(spec.extra ? spec.extra(sx, sy) : []),
      ...spec.series.map((s, index) => seriesGroup(s, index, sx, sy, spec.yFormat)),
    ]);
    return html("figure", { class: "chart", "data-chart": spec.id }, [html("figcaption", {}, [spec.title]), plot, legend(spec.series)]);
  }

  function autoRange(values) {
    const max = Math.max(...values);
    const min = Math.min(0, ...values);
    if (max === min) return [min, min + 1];
    const step = niceStep(max - min, 4);
    return [Math.floor(min / step) * step, Math.ceil(max / step) * step];
  }

  function yAxis(values, sy, format) {
    return values.flatMap((v) => [
      svg("line", { class: "grid", x1: CHART.left, x2: CHART.width - CHART.right, y1: sy(v), y2: sy(v) }),
      svg("text", { class: "tick", x: CHART.left - 6, y: sy(v) + 4, "text-anchor": "end" }, [format(v)]),
    ]);
  }

  function xAxis(values, sx, label) {
    const base = CHART.height - CHART.bottom;
    return [
      svg("line", { class: "axis", x1: CHART.left, x2: CHART.width - CHART.right, y1: base, y2: base }),
      ...values.map((v) => svg("text", { class: "tick", x: sx(v), y: base + 14, "text-anchor": "middle" }, [String(v)])),
      svg("text", { class: "axis-label", x: (CHART.left + CHART.width - CHART.right) / 2, y: CHART.height - 4, "text-anchor": "middle" }, [label]),
    ];
  }

  function seriesGroup(series, index, sx, sy, format) {
    const colour = `series-${index % 6}`;
    const sorted = [...series.points].sort((a, b) => a.x - b.x);
    const d = sorted.map((p, i) => `${i === 0 ? "M" : "L"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    return svg("g", { class: `series ${colour}`, "data-series": series.key }, [
      svg("path", { class: "line", d }),
      ...sorted.map((p) =>
        svg("circle", { class: p.best ? "point best" : "point", cx: sx(p.x), cy: sy(p.y), r: p.best ? 4.5 : 3, "data-x": p.x, "data-value": p.y }, [
          svg("title", {}, [`${series.label} @ ${p.x}: ${format(p.y)}${p.best ? " (best)" : ""}`]),
        ]),
      ),
    ]);
  }

  function legend(series) {
    return html(
      "ul",
      { class: "legend" },
      series.map((s, index) => html("li", { "data-series": s.key }, [html("span", { class: `swatch series-${index % 6}` }), s.label])),
    );
  }

  // ---- the charts of a run -----------------------------------------------------------------

  const evaluatedRows = (data) => data.rows.filter((r) => r.evaluated && isNumber(r.testPassAt1));
  const iterationDomain = (data) => [0, Math.max(1, data.iterations, ...data.rows.map((r) => r.iteration))];
  const NO_EVAL = "no evaluation yet";

  function passAt1Chart(data) {
    const rows = evaluatedRows(data);
    if (rows.length === 0) return emptyFigure("pass-at-1", "Test pass@1 (greedy)", NO_EVAL);
    const series = [{ key: "greedy", label: "greedy pass@1", points: rows.map((r) => ({ x: r.iteration, y: r.testPassAt1 })) }];
    return lineChart({ id: "pass-at-1", title: "Test pass@1 (greedy)", xLabel: "iteration (0 = base)", series, yRange: [0, 1], yFormat: percentTick, xDomain: iterationDomain(data), integerX: true });
  }

  function passAtKChart(data) {
    const series = data.passK
      .map((k) => ({ key: `pass@${k}`, label: `pass@${k}`, points: data.rows.filter((r) => isNumber(r.passAtK[k])).map((r) => ({ x: r.iteration, y: r.passAtK[k] })) }))
      .filter((s) => s.points.length > 0);
    if (series.length === 0) return emptyFigure("pass-at-k", "Test pass@k (sampled)", evaluatedRows(data).length === 0 ? NO_EVAL : "no sampled evaluation (evaluation.samples is 0)");
    return lineChart({ id: "pass-at-k", title: "Test pass@k (sampled)", xLabel: "iteration (0 = base)", series, yRange: [0, 1], yFormat: percentTick, xDomain: iterationDomain(data), integerX: true });
  }

  function keptFractionChart(data) {
    const rows = data.rows.filter((r) => isNumber(r.keptFraction));
    if (rows.length === 0) return emptyFigure("kept-fraction", "Kept fraction (E-step)", "no E-step filtered yet");
    const series = [{ key: "kept-fraction", label: "kept / samples", points: rows.map((r) => ({ x: r.iteration, y: r.keptFraction })) }];
    const top = Math.max(...rows.map((r) => r.keptFraction));
    return lineChart({ id: "kept-fraction", title: "Kept fraction (E-step)", xLabel: "iteration", series, yRange: autoRange([0, top]), yFormat: percentTick, xDomain: iterationDomain(data), integerX: true });
  }

  function gapChart(data) {
    const rows = evaluatedRows(data).filter((r) => isNumber(r.trainPassAt1));
    if (rows.length === 0) return emptyFigure("train-test-gap", "Train–test gap (greedy pass@1)", evaluatedRows(data).length === 0 ? NO_EVAL : "train greedy evaluation is off");
    const series = [
      { key: "train", label: "train greedy", points: rows.map((r) => ({ x: r.iteration, y: r.trainPassAt1 })) },
      { key: "test", label: "test greedy", points: rows.map((r) => ({ x: r.iteration, y: r.testPassAt1 })) },
    ];
    const gapBars = (sx, sy) =>
      rows.map((r) =>
        svg("line", { class: "gap-bar", "data-x": r.iteration, "data-value": r.trainTestGap, x1: sx(r.iteration), x2: sx(r.iteration), y1: sy(r.trainPassAt1), y2: sy(r.testPassAt1) }, [
          svg("title", {}, [`gap @ ${r.iteration}: ${points(r.trainTestGap)}`]),
        ]),
      );
    const figure = lineChart({ id: "train-test-gap", title: "Train–test gap (greedy pass@1)", xLabel: "iteration (0 = base)", series, yRange: [0, 1], yFormat: percentTick, xDomain: iterationDomain(data), integerX: true, extra: gapBars });
    const last = rows[rows.length - 1];
    figure.append(html("p", { class: "note", "data-gap": last.trainTestGap }, [`gap at iteration ${last.iteration}: ${points(last.trainTestGap)}`]));
    return figure;
  }

  function lossChart(data) {
    const curves = data.series.loss;
    if (curves.length === 0) {
      const trained = data.rows.some((r) => isNumber(r.mstepSteps) && r.mstepSteps > 0);
      return emptyFigure("loss", "M-step loss", trained ? "no per-step log (iter-<i>/train.jsonl) in this run" : "no training steps yet");
    }
    const series = curves.map((c) => ({ key: `iter-${c.iteration}`, label: `iteration ${c.iteration}`, points: c.points.map((p) => ({ x: p.step, y: p.loss })) }));
    return lineChart({ id: "loss", title: "M-step loss (reward-weighted NLL per token)", xLabel: "optimizer step", series, yRange: null, yFormat: (v) => decimal(v, 2), xDomain: null, integerX: true });
  }

  function validationChart(data) {
    const curves = data.series.validation;
    if (curves.length === 0) return emptyFigure("validation", "Validation pass rate (D_val)", "no validation yet");
    const series = curves.map((c) => ({ key: `iter-${c.iteration}`, label: `iteration ${c.iteration}`, points: c.points.map((p) => ({ x: p.step, y: p.score, best: p.best })) }));
    return lineChart({ id: "validation", title: "Validation pass rate (D_val)", xLabel: "optimizer step", series, yRange: [0, 1], yFormat: percentTick, xDomain: null, integerX: true });
  }

  // ---- tables ------------------------------------------------------------------------------

  function table(id, columns, rows, emptyNote) {
    const head = html("thead", {}, [html("tr", {}, columns.map((c) => html("th", { "data-col": c.key, title: c.title || null }, [c.label])))]);
    const body = rows.length === 0
      ? [html("tr", { class: "empty-row" }, [html("td", { colspan: columns.length, class: "empty" }, [emptyNote])])]
      : rows.map((row) => html("tr", { "data-iteration": row.iteration, class: row.evaluated === false ? "pending" : null }, columns.map((c) => html("td", { "data-col": c.key }, [c.cell(row)]))));
    return html("table", { id }, [head, html("tbody", {}, body)]);
  }

  function iterationsTable(data) {
    const columns = [
      { key: "iteration", label: "iter", cell: (r) => (r.iteration === 0 ? "0 (base)" : String(r.iteration)) },
      { key: "test-pass-at-1", label: "test pass@1", title: "greedy pass@1 on the test split", cell: (r) => percent(r.testPassAt1) },
      ...data.passK.map((k) => ({ key: `pass-at-${k}`, label: `pass@${k}`, cell: (r) => percent(r.passAtK[k]) })),
      { key: "train-pass-at-1", label: "train greedy", cell: (r) => percent(r.trainPassAt1) },
      { key: "gap", label: "gap", title: "train greedy − test greedy", cell: (r) => points(r.trainTestGap) },
      { key: "estep-pass", label: "E-step pass", title: "training problems with a correct sample", cell: (r) => percent(r.estepTrainPassRate) },
      { key: "kept", label: "kept", cell: (r) => integer(r.kept) },
      { key: "kept-fraction", label: "kept %", cell: (r) => percent(r.keptFraction) },
      { key: "steps", label: "steps", cell: (r) => integer(r.mstepSteps) },
      { key: "final-loss", label: "final loss", cell: (r) => decimal(r.mstepFinalLoss, 3) },
      { key: "best-validation", label: "best val", cell: (r) => percent(r.mstepBestValidation) },
      { key: "mstep-seconds", label: "M-step s", cell: (r) => decimal(r.mstepSeconds, 1) },
    ];
    return table("iterations", columns, data.rows, NO_EVAL);
  }

  /** A cell with a number and a bar relative to the column's largest value. */
  function barCell(value, max, text) {
    if (!isNumber(value)) return DASH;
    const width = max > 0 ? Math.max(1, (value / max) * 100) : 0;
    const bar = svg("svg", { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", "data-value": value }, [
      svg("rect", { class: "bar-track", x: 0, y: 0, width: 100, height: 8 }),
      svg("rect", { class: "bar-fill", x: 0, y: 0, width: width.toFixed(2), height: 8 }),
    ]);
    return html("span", { class: "bar-cell" }, [html("span", { class: "bar-value" }, [text]), bar]);
  }

  function throughputTable(data) {
    const maxOf = (key) => Math.max(0, ...data.throughput.map((r) => (isNumber(r[key]) ? r[key] : 0)));
    const sampleMax = maxOf("estepSamplesPerSecond");
    const tokenMax = maxOf("trainTokensPerSecond");
    const columns = [
      { key: "iteration", label: "iter", cell: (r) => String(r.iteration) },
      { key: "estep-samples", label: "E-step samples", cell: (r) => integer(r.estepSamples) },
      { key: "estep-seconds", label: "E-step s", cell: (r) => decimal(r.estepSeconds, 1) },
      { key: "samples-per-second", label: "samples/s", cell: (r) => barCell(r.estepSamplesPerSecond, sampleMax, decimal(r.estepSamplesPerSecond, 2)) },
      { key: "train-steps", label: "train steps", cell: (r) => integer(r.trainSteps) },
      { key: "tokens-per-second", label: "train tokens/s", cell: (r) => barCell(r.trainTokensPerSecond, tokenMax, decimal(r.trainTokensPerSecond, 0)) },
    ];
    return table("throughput", columns, data.throughput, "no E-step or training yet");
  }

  // ---- header and live progress ------------------------------------------------------------

  function renderHeader() {
    const data = state.data;
    byId("run-id").textContent = data ? data.runId : state.runId || DASH;
    const status = byId("status");
    const value = data ? data.status : state.error ? "error" : "loading";
    status.textContent = value;
    status.className = `badge status-${value}`;
    status.setAttribute("data-status", value);
    const running = data && (data.status === "running" || data.status === "interrupted");
    const phase = byId("phase");
    phase.hidden = !(data && data.current);
    if (data && data.current) {
      phase.textContent = `${running ? "current" : "last"}: iteration ${data.current.iteration} · ${phaseName(data.current.phase)}`;
      phase.setAttribute("data-iteration", data.current.iteration);
      phase.setAttribute("data-phase", data.current.phase);
    }
    byId("meta").textContent = data ? `${data.variant} · ${data.iterations} iteration${data.iterations === 1 ? "" : "s"}${data.updated ? ` · updated ${new Date(data.updated).toLocaleString()}` : ""}` : "";
    const message = byId("message");
    const text = data ? data.message || (data.status === "interrupted" ? `the process running it is gone; \`restem resume ${data.runId}\` continues it` : "") : "";
    message.hidden = !text;
    message.textContent = text;
    const error = byId("error");
    error.hidden = !state.error;
    error.textContent = state.error ? `Could not load run ${state.error.runId}: ${state.error.message}` : "";
  }

  function renderRunSelect() {
    const select = /** @type {HTMLSelectElement} */ (byId("run-select"));
    const ids = state.runIds.length > 0 ? state.runIds : state.runId ? [state.runId] : [];
    const current = [...select.options].map((o) => o.value).join("\n");
    if (current !== [...ids].reverse().join("\n")) select.replaceChildren(...[...ids].reverse().map((id) => html("option", { value: id }, [id])));
    if (state.runId) select.value = state.runId;
  }

  function liveText(live) {
    const where = `iteration ${live.iteration} · ${phaseName(live.phase)}`;
    if (live.phase === "mstep") {
      return `${where} · step ${live.done}${isNumber(live.loss) ? ` · loss ${decimal(live.loss, 3)}` : ""}${isNumber(live.tokensPerSecond) ? ` · ${decimal(live.tokensPerSecond, 0)} tokens/s` : ""}`;
    }
    const count = live.total > 0 ? `${live.done} / ${live.total} samples (${((live.done / live.total) * 100).toFixed(0)}%)` : `${live.done} samples`;
    return `${where} · ${count}${isNumber(live.samplesPerSecond) ? ` · ${decimal(live.samplesPerSecond, 2)} samples/s` : ""}`;
  }

  function renderLive() {
    const box = byId("live");
    const live = state.live;
    const running = state.data && state.data.status === "running";
    box.hidden = !live && !running;
    if (box.hidden) return;
    const known = live && live.total > 0;
    const width = known ? Math.min(100, (live.done / live.total) * 100) : 100;
    box.setAttribute("data-done", live ? live.done : "");
    box.setAttribute("data-total", live ? live.total : "");
    box.replaceChildren(
      svg("svg", { class: `progress${known ? "" : " indeterminate"}`, viewBox: "0 0 100 4", preserveAspectRatio: "none", "data-value": known ? (live.done / live.total).toFixed(4) : null }, [
        svg("rect", { class: "progress-track", x: 0, y: 0, width: 100, height: 4 }),
        svg("rect", { class: "progress-fill", x: 0, y: 0, width: width.toFixed(2), height: 4 }),
      ]),
      html("span", { id: "live-text" }, [live ? liveText(live) : "running (no live progress from this window; re-read every few seconds)"]),
    );
  }

  // ---- page --------------------------------------------------------------------------------

  function renderBody() {
    const body = byId("body");
    const data = state.data;
    if (!data) {
      body.replaceChildren(html("p", { class: "empty" }, [state.error ? "No data." : "Loading…"]));
      return;
    }
    body.replaceChildren(
      html("section", { class: "charts" }, [passAt1Chart(data), passAtKChart(data), gapChart(data), keptFractionChart(data), lossChart(data), validationChart(data)]),
      html("section", { class: "table-section" }, [html("h2", {}, ["Iterations"]), iterationsTable(data)]),
      html("section", { class: "table-section" }, [html("h2", {}, ["Throughput"]), throughputTable(data)]),
    );
  }

  function renderAll() {
    renderHeader();
    renderRunSelect();
    renderLive();
    renderBody();
  }

  function skeleton() {
    const select = html("select", { id: "run-select", "aria-label": "Run" });
    select.addEventListener("change", () => {
      state.runId = select.value;
      state.error = null;
      vscode.setState(state);
      vscode.postMessage({ type: "selectRun", runId: select.value });
    });
    const refresh = html("button", { id: "refresh", type: "button" }, ["Refresh"]);
    refresh.addEventListener("click", () => vscode.postMessage({ type: "refresh" }));
    byId("app").replaceChildren(
      html("header", { class: "header" }, [
        html("div", { class: "title-row" }, [html("h1", {}, ["ReST-EM ", html("span", { id: "run-id" })]), html("span", { id: "status", class: "badge" }), html("span", { class: "spacer" }), select, refresh]),
        html("div", { id: "meta", class: "meta" }),
        html("div", { id: "phase", class: "phase", hidden: true }),
        html("div", { id: "live", class: "live", hidden: true }),
        html("div", { id: "message", class: "message", hidden: true }),
        html("div", { id: "error", class: "error", role: "alert", hidden: true }),
      ]),
      html("main", { id: "body" }),
    );
  }

  function onHostMessage(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "data") {
      state.data = message.data;
      state.runId = message.data.runId;
      state.live = message.data.live || null;
      state.error = null;
      renderAll();
    } else if (message.type === "live") {
      state.live = message.live;
      renderLive();
    } else if (message.type === "runs") {
      state.runIds = message.runIds;
      state.runId = message.selected;
      renderRunSelect();
    } else if (message.type === "error") {
      state.error = { runId: message.runId, message: message.message };
      state.runId = message.runId;
      if (state.data && state.data.runId !== message.runId) state.data = null;
      renderAll();
    }
    vscode.setState(state);
  }

  skeleton();
  renderAll();
  window.addEventListener("message", (event) => onHostMessage(event.data));
  vscode.postMessage({ type: "ready" });
})();
