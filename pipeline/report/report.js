// The oilake report's page script: inflates Plotly and the data (both inline), draws the figures,
// and runs the class explorer and the hierarchy browser. No network: everything is in this file.
"use strict";
(function () {
  const PAGE = 25; // class rows shown first, and more at a click
  let reveal = null; // opens the hierarchy tree at a class, once the tree is there
  const fmt = (n) => (n === null || n === undefined ? "n/a" : Number(n).toLocaleString("en-US"));
  const esc = (s) =>
    String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  async function inflate(id) {
    const text = document.getElementById(id).textContent.trim();
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }

  // --- figures ------------------------------------------------------------------------------
  async function drawFigures(data) {
    const slots = Array.from(document.querySelectorAll("[data-figure]"));
    const config = { responsive: true, displaylogo: false };
    await Promise.all(
      slots.map((slot) => {
        const spec = data.figures[slot.dataset.figure];
        if (!spec) {
          slot.innerHTML = '<p class="empty">No data for this chart.</p>';
          return Promise.resolve();
        }
        const layout = Object.assign({ template: data.template, height: 420 }, spec.layout);
        return Plotly.newPlot(slot, spec.data, layout, config).then(() => slot.setAttribute("data-drawn", "true"));
      })
    );
  }

  // --- classes ------------------------------------------------------------------------------
  function classModel(data) {
    const c = data.classes;
    const n = c.mids.length;
    const splits = c.splits.length;
    const metrics = c.metrics;
    // counts[s][m][i]: split s (the last one is every split), metric m, class i
    const counts = [];
    for (let s = 0; s <= splits; s++) counts.push(metrics.map(() => new Float64Array(n)));
    const present = [];
    for (let s = 0; s <= splits; s++) present.push(new Uint8Array(n));
    for (const row of c.stats) {
      const [i, s] = row;
      for (let m = 0; m < metrics.length; m++) {
        counts[s][m][i] += row[2 + m];
        counts[splits][m][i] += row[2 + m];
      }
      present[s][i] = 1;
      present[splits][i] = 1;
    }
    const lower = c.names.map((name) => String(name).toLowerCase());
    return { c, n, splits, metrics, counts, present, lower };
  }

  function listsOf(model, i) {
    const flags = model.c.flags[i];
    const names = ["boxable", "trainable", "segmentable"];
    return names.filter((_, bit) => flags & (1 << bit));
  }

  function setupClasses(model, showDetails) {
    const table = document.getElementById("class-table");
    if (!table) return;
    const body = table.querySelector("tbody");
    const foot = table.querySelector("tfoot");
    const search = document.getElementById("class-search");
    const splitSelect = document.getElementById("class-split");
    const count = document.getElementById("class-count");
    const more = document.getElementById("class-more");
    const state = { query: "", split: model.splits, key: "boxes", dir: -1, shown: PAGE };
    const numeric = model.metrics;

    function matches() {
      const q = state.query.trim().toLowerCase();
      const present = model.present[state.split];
      const out = [];
      for (let i = 0; i < model.n; i++) {
        if (!present[i]) continue;
        if (q && !model.lower[i].includes(q) && !model.c.mids[i].toLowerCase().includes(q)) continue;
        out.push(i);
      }
      const s = state.split;
      let value;
      if (state.key === "name") value = (i) => model.lower[i];
      else if (state.key === "mid") value = (i) => model.c.mids[i];
      else if (state.key === "lists") value = (i) => model.c.flags[i];
      else {
        const column = model.counts[s][numeric.indexOf(state.key)];
        value = (i) => column[i];
      }
      out.sort((a, b) => {
        const va = value(a);
        const vb = value(b);
        if (va < vb) return -state.dir;
        if (va > vb) return state.dir;
        return model.lower[a] < model.lower[b] ? -1 : model.lower[a] > model.lower[b] ? 1 : a - b;
      });
      return out;
    }

    function render() {
      const rows = matches();
      const s = state.split;
      const html = [];
      for (const i of rows.slice(0, state.shown)) {
        const cells = numeric
          .map((m, k) => `<td class="num" data-key="${m}">${fmt(model.counts[s][k][i])}</td>`)
          .join("");
        const lists = listsOf(model, i).map((l) => `<span class="badge">${l}</span>`).join("");
        html.push(
          `<tr data-mid="${esc(model.c.mids[i])}"><td data-key="name"><a class="class-link" data-class="${i}">` +
            `${esc(model.c.names[i])}</a></td><td data-key="mid"><code>${esc(model.c.mids[i])}</code></td>` +
            `<td data-key="lists">${lists}</td>${cells}</tr>`
        );
      }
      body.innerHTML = html.join("");
      const totals = numeric.map((m, k) => {
        let sum = 0;
        for (const i of rows) sum += model.counts[s][k][i];
        return `<td class="num" data-key="${m}">${fmt(sum)}</td>`;
      });
      foot.innerHTML = rows.length ? `<tr data-total="true"><td colspan="3">total of ${fmt(rows.length)} classes</td>${totals.join("")}</tr>` : "";
      count.textContent = `${fmt(rows.length)} of ${fmt(model.present[s].reduce((a, b) => a + b, 0))} classes` +
        (rows.length > state.shown ? `, first ${fmt(state.shown)} shown` : "");
      count.dataset.matches = String(rows.length);
      more.hidden = rows.length <= state.shown;
      for (const th of table.querySelectorAll("th[data-sort]")) {
        th.classList.toggle("sorted", th.dataset.sort === state.key);
        th.classList.toggle("ascending", th.dataset.sort === state.key && state.dir > 0);
      }
    }

    search.addEventListener("input", () => {
      state.query = search.value;
      state.shown = PAGE;
      render();
    });
    splitSelect.addEventListener("change", () => {
      state.split = splitSelect.value === "all" ? model.splits : Number(splitSelect.value);
      state.shown = PAGE;
      render();
    });
    more.addEventListener("click", () => {
      state.shown += 4 * PAGE;
      render();
    });
    for (const th of table.querySelectorAll("th[data-sort]")) {
      const sort = () => {
        const key = th.dataset.sort;
        if (state.key === key) state.dir = -state.dir;
        else {
          state.key = key;
          state.dir = key === "name" || key === "mid" ? 1 : -1;
        }
        render();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => e.key === "Enter" && sort());
    }
    body.addEventListener("click", (e) => {
      const link = e.target.closest("a.class-link");
      if (!link) return;
      e.preventDefault();
      showDetails(Number(link.dataset.class), true);
    });
    render();
  }

  // --- hierarchy ----------------------------------------------------------------------------
  function hierarchyModel(data) {
    const h = data.hierarchy;
    const children = new Map();
    const parents = new Map();
    for (const [p, c] of h.edges) {
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(c);
      if (!parents.has(c)) parents.set(c, []);
      parents.get(c).push(p);
    }
    const ancestors = new Map();
    const descendants = new Map();
    for (const [c, a, d] of h.ancestors) {
      if (!ancestors.has(c)) ancestors.set(c, []);
      ancestors.get(c).push([a, d]);
      if (!descendants.has(a)) descendants.set(a, []);
      descendants.get(a).push([c, d]);
    }
    const parts = new Map();
    const wholes = new Map();
    for (const [part, whole] of h.parts) {
      if (!parts.has(whole)) parts.set(whole, []);
      parts.get(whole).push(part);
      if (!wholes.has(part)) wholes.set(part, []);
      wholes.get(part).push(whole);
    }
    const paths = new Map();
    for (const [c, path] of h.paths) {
      if (!paths.has(c)) paths.set(c, []);
      paths.get(c).push(path);
    }
    const totals = new Map();
    for (const t of h.totals) {
      const entry = {};
      h.total_names.forEach((name, k) => (entry[name] = t[k + 1]));
      totals.set(t[0], entry);
    }
    return { root: h.root, children, parents, ancestors, descendants, parts, wholes, paths, totals };
  }

  function detailsRenderer(model, tree) {
    const panel = document.getElementById("class-details");
    if (!panel) return () => {}; // a lake without a hierarchy has no panel
    const names = model.c.names;
    const byName = (a, b) => (model.lower[a] < model.lower[b] ? -1 : model.lower[a] > model.lower[b] ? 1 : 0);
    const link = (i) => `<a class="class-link" data-class="${i}">${esc(names[i])}</a>`;
    const links = (name, list, limit) => {
      if (!list || !list.length) return `<p class="note" data-list="${name}">none</p>`;
      const shown = list.slice(0, limit || list.length);
      const rest = list.length - shown.length;
      return `<ul data-list="${name}">${shown.map((i) => `<li>${link(i)}</li>`).join("")}${rest > 0 ? `<li class="note">and ${fmt(rest)} more</li>` : ""}</ul>`;
    };
    panel.addEventListener("click", (e) => {
      const a = e.target.closest("a.class-link");
      if (!a) return;
      e.preventDefault();
      show(Number(a.dataset.class), false);
    });

    function show(i, scroll, fromChart) {
      const mid = model.c.mids[i];
      const t = tree.totals.get(i);
      const own = model.metrics.map((m, k) => model.counts[model.splits][k][i]);
      const perSplit = model.c.splits
        .map((split, s) => {
          if (!model.present[s][i]) return "";
          const cells = model.metrics.map((m, k) => `<td class="num" data-key="${m}">${fmt(model.counts[s][k][i])}</td>`);
          return `<tr data-split="${esc(split)}"><td>${esc(split)}</td>${cells.join("")}</tr>`;
        })
        .join("");
      const heads = model.metrics.map((m) => `<th class="num">${esc(m.replace(/_/g, " "))}</th>`).join("");
      const ancestors = (tree.ancestors.get(i) || []).slice().sort((a, b) => a[1] - b[1] || byName(a[0], b[0]));
      const descendants = (tree.descendants.get(i) || []).slice().sort((a, b) => a[1] - b[1] || byName(a[0], b[0]));
      const children = (tree.children.get(i) || []).slice().sort(byName);
      const inTree = i === tree.root || tree.parents.has(i);
      let counts = "";
      if (t) {
        const row = (label, key) =>
          `<tr data-count="${key}"><td>${label}</td><td class="num" data-key="own">${fmt(t[key])}</td>` +
          `<td class="num" data-key="with_descendants">${fmt(t[key + "_with_descendants"])}</td></tr>`;
        counts =
          `<table class="counts"><thead><tr><th></th><th class="num">own</th><th class="num">with descendants</th></tr></thead><tbody>` +
          row("boxes", "boxes") + row("masks", "masks") + row("positive labels", "positive_labels") +
          `</tbody></table>`;
      }
      panel.innerHTML =
        `<h3 data-mid="${esc(mid)}">${esc(names[i])}</h3><p><code>${esc(mid)}</code> ` +
        listsOf(model, i).map((l) => `<span class="badge">${l}</span>`).join("") + "</p>" +
        (inTree
          ? `<h4>Paths</h4><ul class="paths">${(tree.paths.get(i) || [i === tree.root ? names[i] : mid]).map((p) => `<li>${esc(p)}</li>`).join("")}</ul>` +
            counts +
            `<p data-key="descendants">${fmt(t ? t.descendants : descendants.length)} descendants</p>` +
            `<h4>Ancestors</h4>${links("ancestors", ancestors.map((a) => a[0]))}` +
            `<h4>Subcategories</h4>${links("children", children)}` +
            `<h4>All descendants</h4>${links("descendants", descendants.map((d) => d[0]), 60)}` +
            `<h4>Parts</h4>${links("parts", (tree.parts.get(i) || []).slice().sort(byName))}` +
            `<h4>Part of</h4>${links("wholes", (tree.wholes.get(i) || []).slice().sort(byName))}`
          : '<p class="note">Not in the boxable hierarchy (an image-level class).</p>') +
        `<h4>Per split (own annotations)</h4><table class="per-split"><thead><tr><th>split</th>${heads}</tr></thead>` +
        `<tbody>${perSplit || `<tr><td colspan="${own.length + 1}" class="note">no annotations</td></tr>`}</tbody></table>`;
      panel.dataset.class = String(i);
      panel.dataset.mid = mid;
      if (!fromChart) focusSunburst(i);
      if (reveal) reveal(i);
      if (scroll) document.getElementById("hierarchy").scrollIntoView({ block: "start" });
    }
    return show;
  }

  function setupTree(model, tree, show) {
    const root = document.getElementById("hierarchy-tree");
    if (!root || tree.root === null || tree.root === undefined) return;
    const names = model.c.names;
    const byName = (a, b) => (model.lower[a] < model.lower[b] ? -1 : model.lower[a] > model.lower[b] ? 1 : 0);
    function item(i, path) {
      const li = document.createElement("li");
      const kids = (tree.children.get(i) || []).filter((c) => !path.includes(c));
      const t = tree.totals.get(i);
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "toggle";
      toggle.textContent = kids.length ? "▸" : "·";
      toggle.setAttribute("aria-label", "expand");
      li.appendChild(toggle);
      const a = document.createElement("a");
      a.className = "class-link";
      a.dataset.class = String(i);
      a.textContent = names[i];
      li.appendChild(a);
      const n = document.createElement("span");
      n.className = "n";
      n.textContent = t ? `${fmt(t.boxes_with_descendants)} boxes` : "";
      li.appendChild(n);
      li.dataset.class = String(i);
      let open = false;
      let list = null;
      const setOpen = (value) => {
        if (!kids.length) return;
        open = value;
        toggle.textContent = open ? "▾" : "▸";
        if (open && !list) {
          list = document.createElement("ul");
          for (const c of kids.slice().sort(byName)) list.appendChild(item(c, path.concat([c])));
          li.appendChild(list);
        }
        if (list) list.hidden = !open;
      };
      toggle.addEventListener("click", () => setOpen(!open));
      li.openBranch = () => setOpen(true);
      return li;
    }
    // show a class chosen anywhere in the tree: its first path opened, the class marked
    reveal = (i) => {
      const chain = [i];
      while (chain[0] !== tree.root && tree.parents.has(chain[0]) && chain.length < 50) {
        chain.unshift(tree.parents.get(chain[0]).slice().sort(byName)[0]);
      }
      if (chain[0] !== tree.root) return;
      let here = root;
      for (const node of chain) {
        const li = Array.from(here.querySelectorAll(":scope > ul > li, :scope > li")).find(
          (e) => e.dataset.class === String(node)
        );
        if (!li) return;
        if (node !== i) li.openBranch();
        here = li;
      }
      for (const old of root.querySelectorAll("li.hit")) old.classList.remove("hit");
      here.classList.add("hit");
      const box = root.getBoundingClientRect();
      const at = here.getBoundingClientRect();
      root.scrollTop += at.top - box.top - root.clientHeight / 3;
    };
    const top = document.createElement("ul");
    const first = item(tree.root, [tree.root]);
    top.appendChild(first);
    root.appendChild(top);
    first.querySelector(".toggle").click();
    root.addEventListener("click", (e) => {
      const a = e.target.closest("a.class-link");
      if (!a) return;
      e.preventDefault();
      show(Number(a.dataset.class), false);
    });
    // find a class: list the matching hierarchy classes as links
    const search = document.getElementById("hierarchy-search");
    const found = document.getElementById("hierarchy-found");
    const members = Array.from(tree.totals.keys());
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      if (!q) {
        found.innerHTML = "";
        return;
      }
      const hits = members.filter((i) => model.lower[i].includes(q)).sort(byName);
      found.innerHTML =
        `${fmt(hits.length)} found: ` +
        hits.slice(0, 20).map((i) => `<a class="class-link" data-class="${i}">${esc(names[i])}</a>`).join(", ");
    });
    found.addEventListener("click", (e) => {
      const a = e.target.closest("a.class-link");
      if (!a) return;
      e.preventDefault();
      show(Number(a.dataset.class), false);
    });
  }

  // the sunburst shows a class chosen elsewhere in context: zoomed to its (first) parent
  function focusSunburst(i) {
    const slot = document.querySelector('[data-figure="sunburst"]');
    if (!slot || !slot.data || !slot.data.length || typeof Plotly === "undefined") return;
    const trace = slot.data[0];
    const k = trace.customdata.findIndex((c) => c[0] === i);
    if (k < 0) return;
    Plotly.restyle(slot, { level: [trace.parents[k] || trace.ids[k]] });
  }

  function setupSunburst(show) {
    const slot = document.querySelector('[data-figure="sunburst"]');
    if (!slot || !slot.on) return;
    slot.on("plotly_sunburstclick", (event) => {
      const point = event && event.points && event.points[0];
      if (point && point.customdata) show(Number(point.customdata[0]), false, true);
    });
  }

  // --- start --------------------------------------------------------------------------------
  async function main() {
    if (typeof DecompressionStream === "undefined") throw new Error("this browser cannot inflate the report (no DecompressionStream)");
    const script = document.createElement("script");
    script.textContent = await inflate("plotly-js");
    document.head.appendChild(script);
    const data = JSON.parse(await inflate("oilake-data"));
    const model = classModel(data);
    const tree = hierarchyModel(data);
    const show = detailsRenderer(model, tree);
    setupClasses(model, show);
    setupTree(model, tree, show);
    await drawFigures(data);
    setupSunburst(show);
    for (const section of document.querySelectorAll("section[data-section]")) section.dataset.rendered = "true";
    document.getElementById("loading").remove();
    document.body.dataset.ready = "true";
  }

  main().catch((error) => {
    console.error(error);
    const loading = document.getElementById("loading");
    if (loading) {
      loading.id = "report-error";
      loading.textContent = `The report could not be drawn: ${error}`;
    }
    document.body.dataset.ready = "error";
  });
})();
