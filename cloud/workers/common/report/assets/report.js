// The report page: reads the run's data (embedded once as JSON) and renders each view on demand.
// Every text from the run goes into the page through textContent (the `el` helper): answers
// are untrusted, so nothing here ever builds HTML from data.
"use strict";
(function () {
  const started = performance.now();
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const parsedMs = performance.now() - started;
  const J = D.jobs;
  const N = J.id.length;
  const PAGE = 50;
  const COMPARE_PER_MODEL = 10;  // answers per model column; the rest open in the transcript browser
  const T = D.texts;
  const CF = index(D.conversationFields);
  const TF = index(D.turnFields);
  const EF = index(D.errorFields);
  const OUTCOME_CLASS = ["succeeded", "failed-retryable", "failed", "no-result"];

  function index(names) {
    const out = {};
    names.forEach((name, i) => { out[name] = i; });
    return out;
  }
  function text(ref) { return ref === null || ref === undefined || ref < 0 ? null : T[ref]; }
  function pretty(ref) { const raw = text(ref); return raw === null ? null : JSON.stringify(JSON.parse(raw), null, 1); }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (id) => document.getElementById(id);
  const num = (n) => (n === null || n === undefined ? "n/a" : Number(n).toLocaleString("en-US"));
  const money = (n) => (n === null || n === undefined ? "n/a" : Number(n).toFixed(n < 1 ? 4 : 2));
  function duration(ms) {
    if (ms === null || ms === undefined) return "n/a";
    if (ms < 1000) return ms + " ms";
    let s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return [h ? h + " h" : "", m ? m + " min" : "", s + " s"].filter(Boolean).join(" ");
  }
  function table(target, head, rows, rowClass) {
    const node = typeof target === "string" ? $(target) : target;
    node.replaceChildren(
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((row, i) => el("tr", { class: rowClass ? rowClass(i) : null },
        row.map((cell) => (cell instanceof Node ? el("td", {}, cell)
          : el("td", { class: typeof cell === "number" ? "num" : null, text: typeof cell === "number" ? num(cell) : cell }))))))
    );
    return node;
  }
  function badge(outcome, code) {
    return el("span", { class: "badge " + OUTCOME_CLASS[outcome], text: D.outcomes[outcome] + (code >= 0 ? " · " + D.codes[code] : "") });
  }

  // ------------------------------------------------------------------ header, notes, tabs
  $("subtitle").textContent = N.toLocaleString("en-US") + " jobs · " + D.models.length + " models · " +
    D.scenarios.length + " scenarios · results " + D.sources.results +
    (D.sources.jobs ? " · jobs " + D.sources.jobs : "") + " · generated " + D.generatedAt;
  $("notes").replaceChildren(...D.notes.map((note) => el("li", { class: note.level, text: note.message })));
  const rendered = {};
  function showTab(name) {
    for (const button of document.querySelectorAll("#tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== "tab-" + name;
    window.scrollTo(0, 0);
    if (!rendered[name]) { rendered[name] = true; RENDER[name](); }
  }
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }

  // ------------------------------------------------------------------ overview
  function renderOverview() {
    const o = D.overview;
    const t = o.totals;
    const totals = [
      ["jobs", "jobs", num(t.jobs)], ["succeeded", "succeeded", num(t.succeeded)], ["failed", "failed", num(t.failed)],
      ["failedRetryable", "of which retryable", num(t.failedRetryable)], ["noResult", "no result yet", num(t.noResult)],
      ["turns", "turns answered", num(t.turns)], ["inputTokens", "input tokens", num(t.inputTokens)],
      ["outputTokens", "output tokens", num(t.outputTokens)], ["reasoningTokens", "of which reasoning", num(t.reasoningTokens)],
      ["estimatedCost", "estimated cost (" + t.pricedJobs + " priced jobs)", money(t.estimatedCost)],
      ["wallMs", "wall time", duration(t.wallMs)], ["requestMs", "provider time, all turns", duration(t.requestMs)],
    ];
    $("totals").replaceChildren(...totals.map(([key, label, value]) =>
      el("div", {}, [el("dt", { text: label }), el("dd", { "data-total": key, text: value })])));
    table("by-code", ["outcome / code", "retryable", "jobs"], [["succeeded", "", t.succeeded]].concat(
      o.byCode.map((c) => [c.code, c.retryable === c.count ? "yes" : c.retryable ? c.retryable + " of " + c.count : "no", c.count]),
      t.noResult ? [["no result", "", t.noResult]] : []));
    const usage = (r) => [r.jobs, r.succeeded, r.failed, r.noResult, r.turns, r.inputTokens, r.outputTokens,
      r.reasoningTokens, money(r.estimatedCost), r.truncatedTurns, r.retriedTurns, r.medianTurnMs === null ? "n/a" : r.medianTurnMs];
    const usageHead = ["jobs", "succeeded", "failed", "no result", "turns", "input tok", "output tok", "reasoning tok",
      "est. cost", "truncated turns", "retried turns", "median turn ms"];
    table("per-provider", ["provider"].concat(usageHead), o.perProvider.map((r) => [r.name].concat(usage(r))));
    table("per-model", ["model", "provider"].concat(usageHead), o.perModel.map((r) => [r.name, r.provider].concat(usage(r))));
    table("versions", ["model", "served versions (turns)", "drift", "transcripts with a version change"],
      o.versions.map((v) => [v.model, v.versions.map((x) => (x.version === null ? "(not given)" : x.version) + " (" + num(x.turns) + ")").join(", "),
        v.drift ? "yes" : "no", v.changedWithin]),
      (i) => (o.versions[i].drift ? "drift" : null));
  }

  // ------------------------------------------------------------------ transcript browser
  const filters = { model: -1, scenario: -1, outcome: "", code: -1, search: "" };
  let matching = [];
  let page = 0;
  let openJob = -1;
  let haystack = null;

  function options(select, all, labels) {
    select.replaceChildren(el("option", { value: "", text: all }), ...labels.map(([value, label]) => el("option", { value, text: label })));
  }
  function searchText(i) {
    const c = D.conversations[i];
    const scenario = D.scenarios[J.scenario[i]];
    const parts = [J.id[i], D.models[J.model[i]], scenario.name, text(scenario.prompt)];
    if (c[CF.error]) parts.push(c[CF.error][EF.code], text(c[CF.error][EF.message]));
    for (const turn of c[CF.turns]) parts.push(text(turn[TF.prompt]), turn[TF.response], turn[TF.reasoningText], turn[TF.reasoningSummary]);
    return parts.filter(Boolean).join("\n").toLowerCase();
  }
  function applyFilters() {
    const needle = filters.search.trim().toLowerCase();
    if (needle && haystack === null) { haystack = new Array(N); for (let i = 0; i < N; i++) haystack[i] = searchText(i); }
    const outcomes = filters.outcome === "" ? null : filters.outcome.split(",").map(Number);
    matching = [];
    for (let i = 0; i < N; i++) {
      if (filters.model >= 0 && J.model[i] !== filters.model) continue;
      if (filters.scenario >= 0 && J.scenario[i] !== filters.scenario) continue;
      if (outcomes && !outcomes.includes(J.outcome[i])) continue;
      if (filters.code >= 0 && J.code[i] !== filters.code) continue;
      if (needle && !haystack[i].includes(needle)) continue;
      matching.push(i);
    }
    page = 0;
    renderRows();
  }
  function firstAnswer(i) {
    const c = D.conversations[i];
    if (c[CF.turns].length) return c[CF.turns][0][TF.response].slice(0, 160);
    return c[CF.error] ? text(c[CF.error][EF.message]).slice(0, 160) : "";
  }
  function renderRows() {
    const pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(page, pages - 1);
    $("browse-count").textContent = num(matching.length) + " of " + num(N) + " jobs";
    $("browse-count").dataset.search = filters.search;  // the search this list answers (it runs after typing stops)
    $("page-info").textContent = "page " + (page + 1) + " of " + pages;
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
    const rows = matching.slice(page * PAGE, page * PAGE + PAGE).map((i) => el("tr", {
      "data-job": i, class: i === openJob ? "open" : null, onclick: () => openConversation(i),
    }, [
      el("td", { text: J.id[i] }), el("td", { text: D.models[J.model[i]] }), el("td", { text: D.scenarios[J.scenario[i]].name }),
      el("td", {}, badge(J.outcome[i], J.code[i])), el("td", { class: "num", text: J.turns[i] }),
      el("td", { class: "num", text: num(J.inputTokens[i]) + " / " + num(J.outputTokens[i]) }),
      el("td", { class: "snippet", text: firstAnswer(i) }),
    ]));
    $("browse-rows").replaceChildren(...rows);
  }
  function metaTable(turn) {
    const rows = [
      ["finish reason", text(turn[TF.finishReason]) + (text(turn[TF.rawFinishReason]) ? " (provider: " + text(turn[TF.rawFinishReason]) + ")" : "")],
      ["truncated", turn[TF.truncated] ? "yes" : "no"],
      ["tokens in / out", num(turn[TF.inputTokens]) + " / " + num(turn[TF.outputTokens]) + (turn[TF.tokensEstimated] ? " (estimated)" : "")],
      ["cached input tokens", num(turn[TF.cachedInputTokens])],
      ["reasoning tokens", num(turn[TF.reasoningTokens]) + (turn[TF.redactedReasoningBlocks] ? " (" + turn[TF.redactedReasoningBlocks] + " redacted blocks, not decoded)" : "")],
      ["attempts", num(turn[TF.attempts])],
      ["time", turn[TF.requestMs] + " ms request, " + turn[TF.totalMs] + " ms with retries"],
      ["served model version", text(turn[TF.modelVersion]) || "(not given)"],
      ["API", text(turn[TF.api]) || "the provider's own"],
    ];
    const blocks = [["retries", turn[TF.retries]], ["parameters sent", turn[TF.paramsSent]], ["parameter notes", turn[TF.paramNotes]],
      ["reasoning setting", turn[TF.reasoningSetting]]];
    return el("table", { class: "meta" }, [
      ...rows.map(([k, v]) => el("tr", {}, [el("th", { text: k }), el("td", { "data-meta": k, text: v })])),
      ...blocks.map(([k, ref]) => el("tr", {}, [el("th", { text: k }), el("td", { "data-meta": k }, el("pre", { text: pretty(ref) || "none" }))])),
    ]);
  }
  function errorBox(error) {
    if (!error) return null;
    return el("div", { class: "error" }, [
      el("strong", { text: error[EF.code] + (error[EF.retryable] ? " (retryable)" : " (final)") }),
      el("pre", { class: "error-message", text: text(error[EF.message]) }),
      error[EF.statusCode] !== null ? el("div", { text: "HTTP status " + error[EF.statusCode] }) : null,
      error[EF.retryAfterMs] !== null ? el("div", { text: "retry after " + duration(error[EF.retryAfterMs]) }) : null,
      text(error[EF.details]) ? el("details", {}, [el("summary", { text: "details" }), el("pre", { text: pretty(error[EF.details]) })]) : null,
    ]);
  }
  function turnBlock(turn) {
    return el("div", { class: "turn" }, [
      el("h3", { text: "Turn · " + text(turn[TF.label]) }),
      el("pre", { class: "prompt", text: text(turn[TF.prompt]) }),
      el("pre", { class: "response", text: turn[TF.response] }),
      turn[TF.reasoningText] ? el("details", { class: "reasoning" }, [el("summary", { text: "reasoning" }), el("pre", { class: "reasoning-text", text: turn[TF.reasoningText] })]) : null,
      turn[TF.reasoningSummary] ? el("details", { class: "reasoning" }, [el("summary", { text: "reasoning summary" }), el("pre", { class: "reasoning-summary", text: turn[TF.reasoningSummary] })]) : null,
      el("details", { class: "turn-meta" }, [el("summary", { text: "metadata" }), metaTable(turn)]),
    ]);
  }
  function openConversation(i) {
    openJob = i;
    const c = D.conversations[i];
    const box = $("conversation");
    box.hidden = false;
    box.dataset.job = String(i);
    box.replaceChildren(...[
      el("h2", { text: "Job " + J.id[i] }),
      el("p", {}, [D.models[J.model[i]] + " (" + D.providers[J.provider[i]] + ") · " + D.scenarios[J.scenario[i]].name + " · ",
        badge(J.outcome[i], J.code[i]), J.decision[i] >= 0 ? " · decision " + D.decisions[J.decision[i]] : "",
        c[CF.startedAt] ? " · " + c[CF.startedAt] + " to " + c[CF.completedAt] : ""]),
      errorBox(c[CF.error]),
      c[CF.error] && c[CF.turns].length ? el("p", { text: "Turns completed before the failure (partial transcript):" }) : null,
      c[CF.warnings].length ? el("ul", { class: "warnings" }, c[CF.warnings].map((w) => el("li", { text: text(w) }))) : null,
      ...c[CF.turns].map(turnBlock),
    ].filter(Boolean));
    for (const row of document.querySelectorAll("#browse-rows tr")) row.classList.toggle("open", Number(row.dataset.job) === i);
    box.scrollIntoView({ block: "start" });
  }
  function showJobs(scenario, model) {  // the transcript browser, filtered to one scenario's jobs of one model
    showTab("transcripts");
    Object.assign(filters, { model, scenario, outcome: "", code: -1, search: "" });
    $("filter-model").value = String(model); $("filter-scenario").value = String(scenario);
    $("filter-outcome").value = ""; $("filter-code").value = ""; $("filter-search").value = "";
    applyFilters();
  }
  function renderTranscripts() {
    options($("filter-model"), "all models", D.models.map((m, i) => [i, m]));
    options($("filter-scenario"), "all scenarios", D.scenarios.map((s, i) => [i, s.name]));
    options($("filter-outcome"), "all outcomes", [["0", "succeeded"], ["1,2", "failed (any)"], ["1", "failed (retryable)"], ["2", "failed (final)"], ["3", "no result"]]);
    options($("filter-code"), "all error codes", D.codes.map((c, i) => [i, c]));
    const pick = (id, key) => $(id).addEventListener("change", (event) => {
      filters[key] = event.target.value === "" ? -1 : Number(event.target.value);
      applyFilters();
    });
    pick("filter-model", "model"); pick("filter-scenario", "scenario"); pick("filter-code", "code");
    $("filter-outcome").addEventListener("change", (event) => { filters.outcome = event.target.value; applyFilters(); });
    let pending = 0;
    $("filter-search").addEventListener("input", (event) => {
      clearTimeout(pending);
      pending = setTimeout(() => { filters.search = event.target.value; applyFilters(); }, 150);
    });
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("page-prev").addEventListener("click", () => { page -= 1; renderRows(); });
    $("page-next").addEventListener("click", () => { page += 1; renderRows(); });
    applyFilters();
  }

  // ------------------------------------------------------------------ side by side
  let byScenario = null;
  let compareAt = 0;
  function renderCompareScenario() {
    const s = D.scenarios[compareAt];
    $("compare-scenario").value = String(compareAt);
    $("compare-prompt").textContent = text(s.prompt) || "(prompt unknown)";
    const byModel = new Map();
    for (const i of byScenario[compareAt]) {
      if (!byModel.has(J.model[i])) byModel.set(J.model[i], []);
      byModel.get(J.model[i]).push(i);
    }
    const columns = [...byModel.keys()].sort((a, b) => (D.models[a] < D.models[b] ? -1 : 1)).map((m) =>
      el("div", { class: "compare-column", "data-model": D.models[m] }, [
        el("h3", { text: D.models[m] }),
        ...byModel.get(m).slice(0, COMPARE_PER_MODEL).map((i) => {
          const c = D.conversations[i];
          return el("div", { class: "compare-answer", "data-job": i }, [
            el("p", {}, [badge(J.outcome[i], J.code[i]), J.decision[i] >= 0 ? " " + D.decisions[J.decision[i]] : "",
              el("button", { type: "button", class: "link", text: "open", onclick: () => { showTab("transcripts"); openConversation(i); } })]),
            errorBox(c[CF.error]),
            ...c[CF.turns].map((turn) => el("div", {}, [el("strong", { text: text(turn[TF.label]) }), el("pre", { class: "response", text: turn[TF.response] })])),
          ]);
        }),
        byModel.get(m).length > COMPARE_PER_MODEL ? el("button", { type: "button", class: "link compare-more",
          text: num(byModel.get(m).length - COMPARE_PER_MODEL) + " more: show all " + num(byModel.get(m).length) + " in Transcripts",
          onclick: () => showJobs(compareAt, m) }) : null,
      ]));
    $("compare-grid").replaceChildren(...columns);
  }
  function renderCompare() {
    byScenario = D.scenarios.map(() => []);
    for (let i = 0; i < N; i++) byScenario[J.scenario[i]].push(i);
    const select = $("compare-scenario");
    select.replaceChildren(...D.scenarios.map((s, i) => el("option", { value: i, text: s.name + " (" + byScenario[i].length + " jobs)" })));
    select.addEventListener("change", () => { compareAt = Number(select.value); renderCompareScenario(); });
    $("compare-prev").addEventListener("click", () => { compareAt = (compareAt + D.scenarios.length - 1) % D.scenarios.length; renderCompareScenario(); });
    $("compare-next").addEventListener("click", () => { compareAt = (compareAt + 1) % D.scenarios.length; renderCompareScenario(); });
    if (D.scenarios.length) renderCompareScenario();
  }

  // ------------------------------------------------------------------ failures
  function renderFailures() {
    if (!D.failures.length) { $("failure-groups").replaceChildren(el("p", { text: "No job failed." })); return; }
    $("failure-groups").replaceChildren(...D.failures.map((g) => el("div", { class: "failure-group", "data-code": g.code }, [
      el("h2", { text: g.code + " · " + num(g.count) + " job(s)" }),
      el("p", { text: num(g.retryable) + " retryable, " + num(g.count - g.retryable) + " final; " + num(g.withPartial) +
        " kept a partial transcript" + (Object.keys(g.statusCodes).length ? "; HTTP " + Object.entries(g.statusCodes).map(([k, v]) => k + " ×" + v).join(", ") : "") }),
      g.retryAfter ? el("p", { class: "retry-hint", text: "retry hints on " + num(g.retryAfter.count) + " job(s): " + duration(g.retryAfter.minMs) +
        " to " + duration(g.retryAfter.maxMs) + " (median " + duration(g.retryAfter.medianMs) + ")" }) : el("p", { text: "no retry hint" }),
      table(el("table", { class: "messages" }), ["message", "jobs", "examples"], g.messages.map((m) => [
        el("pre", { text: m.message }), m.count,
        el("span", {}, m.jobs.map((i) => el("button", { type: "button", text: J.id[i] || "#" + i, onclick: () => { showTab("transcripts"); openConversation(i); } }))),
      ])),
      g.distinctMessages > g.messages.length ? el("p", { text: (g.distinctMessages - g.messages.length) + " more distinct message(s) not shown" }) : null,
    ])));
  }

  // ------------------------------------------------------------------ analysis
  function renderAnalysis() {
    const a = D.analysis;
    if (!a) { $("analysis-source").textContent = "No analysis: see the notes above."; return; }
    $("analysis-source").textContent = (a.source === "file" ? "Analysis read from " + D.sources.analysis : "Analysis computed by analyze_basic from the results' decisions") +
      ": " + num(a.totals.transcripts) + " transcripts, " + num(a.totals.scored) + " scored, " + a.totals.models + " models, " + a.totals.scenarios + " scenarios.";
    $("analysis-warnings").replaceChildren(...a.warnings.map((w) => el("li", { text: w.code + ": " + w.message })));
    $("analysis-missing").replaceChildren(...a.missingCharts.map((m) => el("li", { "data-chart": m.name, text: m.title + ": not drawn, " + m.reason })));
    const boxes = a.charts.map((chart) => {
      const view = el("div", { class: "view" });
      return [chart, view, el("div", { class: "chart", "data-chart": chart.name }, [el("h2", { text: chart.title }), el("p", { text: chart.description }), view])];
    });
    $("analysis-charts").replaceChildren(...boxes.map((b) => b[2]));
    let done = 0;
    for (const [chart, view, box] of boxes) {
      window.vegaEmbed(view, chart.spec, { actions: false, renderer: "svg" })
        .then(() => { box.dataset.rendered = "true"; })
        .catch((error) => { box.dataset.rendered = "error"; view.append(el("pre", { class: "error", text: "chart failed: " + error })); })
        .finally(() => { done += 1; if (done === boxes.length) document.documentElement.dataset.charts = "done"; });
    }
    if (!boxes.length) document.documentElement.dataset.charts = "done";
  }

  const RENDER = { overview: renderOverview, transcripts: renderTranscripts, compare: renderCompare, failures: renderFailures, analysis: renderAnalysis };
  showTab("overview");
  window.__report = { parseMs: parsedMs, readyMs: performance.now() - started, jobs: N };
  document.documentElement.dataset.ready = "true";
})();
