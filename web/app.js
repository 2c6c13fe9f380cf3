// The upload page: POST /uploads for a presigned form, the file straight to S3 with it, then the
// photo's status until READY, its previews, and the finals on request. Plain JS, no build step.
//
// The API is the stage beside this page ("v1/") unless ?api=<base URL> names another. Locally the API
// takes unsigned requests; a deployed API needs SigV4 (docs/browser-uploads.md): a deployment sets
// window.idphotoSign(method, url, body) -> headers before this script runs.
"use strict";

const API = new URLSearchParams(location.search).get("api") || new URL("v1", location.href).href;
const SPECS = [
  ["us-passport", "US passport (2x2 in)"],
  ["passport-35x45", "Passport 35x45 mm"],
  ["schengen-visa", "Schengen visa"],
  ["uk-passport", "UK passport"],
  ["cn-one-inch", "One inch (CN)"],
  ["cn-passport", "China passport"],
];
const COLOURS = ["white", "blue", "lightblue", "red", "gray"];
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);

function setup() {
  for (const [name, label] of SPECS) $("spec").add(new Option(label, name));
  for (const colour of COLOURS) {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "colour", value: colour });
    box.checked = colour === "white";
    label.append(box, colour);
    $("colours").append(label);
  }
  $("order").addEventListener("submit", (event) => { event.preventDefault(); run().catch(fail); });
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function fail(error) {
  say(error.message || String(error), true);
  $("upload").disabled = false;
}

async function api(method, path, body) {
  const url = API.replace(/\/$/, "") + path;
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers = { ...(text ? { "Content-Type": "application/json" } : {}),
                    ...(window.idphotoSign ? await window.idphotoSign(method, url, text) : {}) };
  const answer = await fetch(url, { method, headers, body: text });
  const data = await answer.json().catch(() => ({}));
  return { status: answer.status, data };
}

function problem(data) {
  return (data.error && `${data.error.code}: ${data.error.message}`) || data.message || "unexpected answer";
}

async function run() {
  const file = $("file").files[0];
  if (!file) throw new Error("Choose a portrait first.");
  const colours = [...document.querySelectorAll("input[name=colour]:checked")].map((b) => b.value);
  const options = { spec: $("spec").value };
  if (colours.length) options.background = colours.join(",");
  $("upload").disabled = true;
  say("Checking the options...");
  const form = await api("POST", "/uploads", { content_type: file.type || "image/jpeg", filename: file.name, options });
  if (form.status !== 201) throw new Error(problem(form.data));
  if (file.size > form.data.max_bytes) throw new Error(`The file is over ${Math.floor(form.data.max_bytes / 1048576)} MB.`);
  say("Uploading...");
  await upload(form.data, file);
  say("Uploaded; making the photo...");
  const photo = await waitForPhoto(form.data.status_path);
  $("upload").disabled = false;
  if (photo.status !== "READY") throw new Error(`The photo FAILED: ${photo.error ? photo.error.message : "unknown"}`);
  say("Ready. The previews are watermarked; the finals are billed once per colour.");
  showPreviews(photo);
  $("fetch-finals").onclick = () => fetchFinals(photo).catch(fail);
}

async function upload(form, file) {
  // S3's POST form: every field of the form first, the file last (S3 ignores fields after it).
  const data = new FormData();
  for (const [name, value] of Object.entries(form.upload.fields)) data.append(name, value);
  data.append("file", file);
  const answer = await fetch(form.upload.url, { method: "POST", body: data });
  if (!answer.ok) {
    const xml = await answer.text();
    const message = (xml.match(/<Message>([^<]*)<\/Message>/) || [])[1] || answer.statusText;
    throw new Error(`S3 refused the upload (${answer.status}): ${message}`);
  }
}

async function waitForPhoto(path) {
  for (;;) {
    const answer = await api("GET", path);
    if (answer.status === 200 && ["READY", "FAILED"].includes(answer.data.status)) return answer.data;
    if (answer.status !== 200 && answer.status !== 404) throw new Error(problem(answer.data));
    say(answer.status === 404 ? "Uploaded; waiting for the photo..." : `Making the photo (${answer.data.status})...`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function figure(src, caption, className) {
  const fig = document.createElement("figure");
  const img = Object.assign(document.createElement("img"), { src, alt: caption, className });
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(img, cap);
  return fig;
}

function showPreviews(photo) {
  $("previews").replaceChildren(...photo.previews.map((p) => figure(p.photo_url, `${p.color} (preview)`, "preview")));
  $("compliance").replaceChildren(...(photo.compliance ? [complianceTable(photo.compliance)] : []));
  $("previews-section").hidden = false;
}

// The compliance report (when the API gives one): rendered generically, one row per check found.
function complianceTable(report) {
  const table = document.createElement("table");
  table.id = "compliance-report";
  const rows = [];
  const walk = (value, label) => {
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${label} ${item && (item.rule || item.name || item.color) || i + 1}`));
    else if (value && typeof value === "object" && !("ok" in value || "passed" in value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, label ? `${label} / ${key}` : key);
    } else rows.push([label, value]);
  };
  walk(report, "");
  for (const [label, value] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = label;
    const ok = value && typeof value === "object" ? (value.ok ?? value.passed) : undefined;
    const cell = tr.insertCell();
    cell.textContent = value && typeof value === "object" ? (ok ? "ok" : "fails") + (value.measured ? ` (${value.measured})` : "") : String(value);
    if (ok === false) cell.className = "fail";
  }
  return table;
}

async function fetchFinals(photo) {
  $("fetch-finals").disabled = true;
  say("Fetching the finals...");
  const path = "/finals/" + encodeURIComponent(photo.key).replace(/%2F/g, "/");
  let answer = await api("POST", path);
  while (answer.status === 200 && answer.data.pending.length && answer.data.pending.some((p) => p.retry_after)) {
    await new Promise((resolve) => setTimeout(resolve, 1000 * Math.min(...answer.data.pending.map((p) => p.retry_after || 1))));
    answer = await api("POST", path);
  }
  $("fetch-finals").disabled = false;
  if (answer.status !== 200) throw new Error(problem(answer.data));
  const items = [];
  for (const final of answer.data.finals) {
    items.push(figure(final.photo_url, `${final.color}`, "final-photo"));
    const link = Object.assign(document.createElement("a"), { href: final.sheet_url, className: "sheet", download: `${final.color}-sheet.jpg` });
    link.textContent = `Download the ${final.color} print sheet`;
    items.push(link);
  }
  $("finals").replaceChildren(...items);
  $("finals-section").hidden = false;
  say("Finals ready: right-click or long-press to save; the links expire in minutes.");
}

setup();
