// The status page's refresh: fetch /status.json every few seconds, update the figures
// in place and redraw the chart (uPlot). The page is complete without it, as rendered.
(function () {
  "use strict";

  const COLORS = { users: "#2563eb", events: "#16a34a", coupons: "#d97706" };
  const chartBox = document.getElementById("chart");
  const source = chartBox.dataset.source;
  const refreshMs = Number(chartBox.dataset.refreshMs) || 3000;
  const state = { chart: null, figures: null, updates: 0, errors: 0 };
  window.betrecoStatus = state;

  function number(value) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString("en", { maximumFractionDigits: 2 });
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " days";
  }

  function ago(seconds) {
    return seconds === null || seconds === undefined ? "never" : age(seconds) + " ago";
  }

  function secondsSince(iso, now) {
    return iso ? (Date.parse(now) - Date.parse(iso)) / 1000 : null;
  }

  function field(figures, path) {
    return path.split(".").reduce((value, key) => (value == null ? value : value[key]), figures);
  }

  const FORMATS = { age: age, ago: ago };

  function renderHealth(health) {
    for (const [name, answer] of Object.entries(health.checks)) {
      const badge = document.querySelector(`[data-check="${name}"]`);
      if (!badge) continue;
      badge.textContent = `${name}: ${answer === "ok" ? "ok" : "unavailable"}`;
      badge.title = answer;
      badge.className = "badge " + (answer === "ok" ? "ok" : "bad");
    }
  }

  function renderTopics(figures) {
    for (const topic of figures.topics) {
      const row = document.querySelector(`tr[data-topic="${CSS.escape(topic.topic)}"]`);
      if (!row) continue;
      const cells = {
        records_per_second: number(topic.records_per_second),
        stored_15m: number(topic.stored_15m),
        dead_lettered_15m: number(topic.dead_lettered_15m),
        lag: number(topic.lag),
        lag_reported_at: topic.lag_reported_at
          ? ago(secondsSince(topic.lag_reported_at, figures.generated_at)) +
            (topic.lag_stale ? " (stale)" : "")
          : "never",
      };
      for (const [key, text] of Object.entries(cells)) {
        const cell = row.querySelector(`[data-key="${key}"]`);
        cell.textContent = text;
        if (key === "lag_reported_at") cell.classList.toggle("stale", topic.lag_stale);
      }
    }
  }

  function renderFields(figures) {
    for (const element of document.querySelectorAll("[data-field]")) {
      const value = field(figures, element.dataset.field);
      const format = FORMATS[element.dataset.format] || number;
      element.textContent = format(value);
    }
  }

  function renderRebuild(rebuild) {
    const text = document.getElementById("rebuild");
    const bar = document.getElementById("rebuild-progress");
    if (!rebuild) {
      text.textContent = "none running";
      bar.hidden = true;
      return;
    }
    text.textContent = `#${rebuild.id} ${rebuild.state}: ${number(rebuild.users_done)} / ${number(
      rebuild.users_total
    )} users`;
    bar.hidden = false;
    bar.max = Math.max(rebuild.users_total, 1);
    bar.value = rebuild.users_done;
  }

  function renderDeadLetters(deadLetters, now) {
    const list = document.getElementById("dead-letters");
    const items = deadLetters.latest.map((letter) => {
      const item = document.createElement("li");
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = `${letter.topic}[${letter.partition ?? "–"}]@${letter.offset ?? "–"}`;
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = ago(secondsSince(letter.created_at, now));
      const reason = document.createElement("div");
      reason.className = "reason";
      reason.textContent = letter.reason;
      item.append(where, " ", when, reason);
      return item;
    });
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = "none";
      items.push(none);
    }
    list.replaceChildren(...items);
  }

  function chartData(figures) {
    const chart = figures.chart;
    return [chart.buckets, ...figures.topics.map((t) => chart.records_per_second[t.topic])];
  }

  function makeChart(figures) {
    const options = {
      width: Math.max(chartBox.clientWidth, 300),
      height: 260,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.1, 1)] } },
      legend: { live: false },
      axes: [
        {
          values: (u, splits) =>
            splits.map((t) =>
              new Date(t * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })
            ),
        },
        { label: "records/s", size: 60 },
      ],
      series: [
        {},
        ...figures.topics.map((t) => ({
          label: t.topic,
          stroke: COLORS[t.kind] || "#6b7280",
          width: 2,
          // Coupons often follow users one for one: dashed, so neither hides the other.
          dash: t.kind === "coupons" ? [7, 5] : undefined,
          points: { show: false },
        })),
      ],
    };
    return new uPlot(options, chartData(figures), chartBox);
  }

  function render(figures) {
    state.figures = figures;
    document.getElementById("updated").textContent = new Date(
      figures.generated_at
    ).toLocaleTimeString("en-GB");
    renderHealth(figures.health);
    renderTopics(figures);
    renderFields(figures);
    renderRebuild(figures.recommendations.rebuild);
    renderDeadLetters(figures.dead_letters, figures.generated_at);
    if (state.chart) state.chart.setData(chartData(figures));
    else state.chart = makeChart(figures);
  }

  async function refresh() {
    const problem = document.getElementById("update-error");
    try {
      const response = await fetch(source, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`${source} answered ${response.status}`);
      render(await response.json());
      state.updates += 1;
      problem.hidden = true;
    } catch (error) {
      state.errors += 1;
      problem.textContent = `(could not refresh: ${error.message}; retrying)`;
      problem.hidden = false;
    } finally {
      setTimeout(refresh, refreshMs);
    }
  }

  window.addEventListener("resize", () => {
    if (state.chart) state.chart.setSize({ width: Math.max(chartBox.clientWidth, 300), height: 260 });
  });

  render(JSON.parse(document.getElementById("status-figures").textContent));
  setTimeout(refresh, refreshMs);
})();
