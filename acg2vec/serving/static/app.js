// The search page: calls the /v1 API of the server that served it (never any other host).
"use strict";

const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("acg2vec-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("acg2vec-api-key", keyInput.value));

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (err) { body = { detail: response.statusText }; }
  if (response.status === 401) $("key-box").open = true;
  if (!response.ok) throw new Error(body && body.detail ? body.detail : `HTTP ${response.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function status(id, text, error = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", error);
}

// -- image: tags and similar illustrations --------------------------------------------------------------------

function similarQuery() {
  const params = new URLSearchParams({ k: "12" });
  if ($("rating").value) params.append("rating", $("rating").value);
  for (const tag of $("required-tags").value.split(/\s+/).filter(Boolean)) params.append("tag", tag);
  return params.toString();
}

function showTags(answer) {
  const list = $("tags");
  list.replaceChildren();
  for (const tag of answer.tags) {
    const bar = el("div", { class: "bar" });
    bar.style.width = `${Math.round(tag.score * 100)}%`;
    list.append(el("li", { "data-tag": tag.name }, bar,
      el("span", {}, tag.name, el("span", { class: "cat" }, tag.category)),
      el("span", { class: "score" }, tag.score.toFixed(3))));
  }
  if (!answer.tags.length) list.append(el("li", {}, "(no tag above its threshold)"));
  $("rating-out").textContent = answer.rating ? `rating: ${answer.rating.label} (${answer.rating.model})` : "";
}

function showSimilar(answer) {
  const grid = $("similar");
  grid.replaceChildren();
  for (const post of answer.results) {
    const img = el("img", { src: post.thumbnail_url, alt: `post ${post.id}`, loading: "lazy" });
    const caption = el("figcaption", {}, `#${post.id} · ${post.score.toFixed(3)} · ${post.rating}`);
    const figure = el("figure", { class: "hit", "data-post": String(post.id), title: post.tags.join(" ") }, img, caption);
    figure.addEventListener("click", () => searchSimilarToPost(post.id));
    grid.append(figure);
  }
  if (!answer.results.length) grid.append(el("p", {}, "No illustration passes the filters."));
}

async function searchImage(file) {
  $("preview").src = URL.createObjectURL(file);
  $("preview").hidden = false;
  status("image-status", "Tagging and searching…");
  const form = () => { const f = new FormData(); f.append("file", file); return f; };
  try {
    const [tags, similar] = await Promise.all([
      api("/v1/tags", { method: "POST", body: form() }),
      api(`/v1/similar?${similarQuery()}`, { method: "POST", body: form() }),
    ]);
    showTags(tags);
    showSimilar(similar);
    status("image-status", `${tags.tags.length} tags by ${tags.model}; ${similar.results.length} similar illustrations.`);
  } catch (err) {
    status("image-status", err.message, true);
  }
}

async function searchSimilarToPost(id) {
  status("image-status", `Illustrations similar to post ${id}…`);
  try {
    const answer = await api(`/v1/posts/${id}/similar?${similarQuery()}`);
    showSimilar(answer);
    status("image-status", `${answer.results.length} illustrations similar to post ${id}.`);
  } catch (err) {
    status("image-status", err.message, true);
  }
}

$("image-input").addEventListener("change", (event) => {
  if (event.target.files.length) searchImage(event.target.files[0]);
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) searchImage(event.dataTransfer.files[0]);
});

// -- works ----------------------------------------------------------------------------------------------------

// Title languages in the order a result lists them (the entities table's codes and the corpus's).
const LANG_ORDER = ["ja", "zh-Hans", "zh", "zh-Hant", "en", "romaji", "und"];
const LANG_NAMES = { ja: "ja", "zh-Hans": "zh", zh: "zh", "zh-Hant": "zh-Hant", en: "en", romaji: "romaji", und: "?" };

function sourceLabel(source) {
  return source.source_id ? `${source.source} ${source.source_id}` : source.source;
}

function workItem(work) {
  const titles = el("div", { class: "titles" });
  const langs = Object.keys(work.titles).sort((a, b) => rank(a) - rank(b));
  for (const lang of langs) {
    titles.append(el("span", { lang }, el("span", { class: "lang" }, LANG_NAMES[lang] || lang), work.titles[lang]));
  }
  const item = el("li", { class: "work", "data-entity": work.entity_id }, titles);
  if (work.aliases.length) item.append(el("div", { class: "aliases" }, `also ${work.aliases.join(" · ")}`));
  if (work.sources.length) item.append(el("div", { class: "sources" }, `from ${work.sources.map(sourceLabel).join(", ")}`));
  const link = el("a", { href: work.url || `/v1/entities/${encodeURIComponent(work.entity_id)}` }, work.entity_id);
  item.append(el("div", { class: "meta" }, link, ` · score ${work.score.toFixed(3)} · matched “${work.matched}”`));
  return item;
}

function rank(lang) {
  const i = LANG_ORDER.indexOf(lang);
  return i < 0 ? LANG_ORDER.length : i;
}

$("work-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("work-query").value;
  status("work-status", "Searching…");
  const params = new URLSearchParams({ q, k: "10" });
  if ($("scorer").value) params.set("scorer", $("scorer").value);
  try {
    const answer = await api(`/v1/works/search?${params}`);
    const list = $("works");
    list.replaceChildren();
    for (const work of answer.results) list.append(workItem(work));
    status("work-status", `${answer.results.length} works (${answer.scorer}).` + (answer.notices.length ? ` ${answer.notices[0]}` : ""));
  } catch (err) {
    status("work-status", err.message, true);
  }
});

// -- tag autocomplete -----------------------------------------------------------------------------------------

let tagTimer = null;
$("tag-prefix").addEventListener("input", () => {
  clearTimeout(tagTimer);
  tagTimer = setTimeout(async () => {
    const prefix = $("tag-prefix").value.trim();
    const list = $("tag-suggestions");
    if (!prefix) { list.replaceChildren(); return; }
    try {
      const answer = await api(`/v1/tags/complete?${new URLSearchParams({ prefix, limit: "10" })}`);
      list.replaceChildren();
      for (const tag of answer.results) {
        const translations = Object.entries(tag.translations).map(([lang, texts]) => `${lang}: ${texts.join(", ")}`).join(" · ");
        list.append(el("li", { "data-tag": tag.name }, tag.name, el("span", { class: "tr" }, `${tag.category} · ${tag.count}` + (translations ? ` · ${translations}` : ""))));
      }
    } catch (err) {
      list.replaceChildren(el("li", {}, err.message));
    }
  }, 150);
});

// The scorers this server offers (hybrid, dense, lexical), from /readyz.
fetch("/readyz").then((r) => r.json()).then((ready) => {
  for (const name of ready.scorers || []) $("scorer").append(el("option", { value: name }, name));
}).catch(() => {});
