// The users UI: list (paged by cursor), add, delete. Plain DOM and relative URLs; text is set with textContent.
"use strict";

const PAGE_SIZE = 10;
const state = { cursors: [null], page: 0, nextCursor: null };

const $ = (id) => document.getElementById(id);

async function problemOf(response) {
  // Errors are application/problem+json; anything else (a proxy's HTML page) gets a generic message.
  try {
    const body = await response.json();
    return { detail: body.detail || response.statusText, errors: body.errors || [] };
  } catch {
    return { detail: `Request failed (${response.status}).`, errors: [] };
  }
}

function setCacheState(value) {
  const element = $("cache-state");
  element.textContent = value || "unknown";
  element.dataset.cache = value || "";
}

function setStatus(text) {
  $("status").textContent = text;
}

function renderRows(users) {
  const tbody = $("users-table").querySelector("tbody");
  tbody.replaceChildren(
    ...users.map((user) => {
      const row = document.createElement("tr");
      row.dataset.userId = String(user.id);
      for (const value of [user.id, user.email, user.name, new Date(user.created_at).toLocaleString()]) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      const actions = document.createElement("td");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Delete";
      remove.dataset.testid = "delete-user";
      remove.setAttribute("aria-label", `Delete ${user.email}`);
      remove.addEventListener("click", () => deleteUser(user));
      actions.append(remove);
      row.append(actions);
      return row;
    }),
  );
  $("empty").hidden = users.length > 0;
}

async function loadPage() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const cursor = state.cursors[state.page];
  if (cursor) params.set("cursor", cursor);
  let response;
  try {
    response = await fetch(`/api/users?${params}`, { cache: "no-store", headers: { Accept: "application/json" } });
  } catch {
    setStatus("The server cannot be reached.");
    return;
  }
  setCacheState(response.headers.get("X-Cache"));
  if (!response.ok) {
    setStatus((await problemOf(response)).detail);
    return;
  }
  const page = await response.json();
  if (page.items.length === 0 && state.page > 0) {
    // The last row of this page was deleted: show the page before it.
    state.page -= 1;
    return loadPage();
  }
  state.nextCursor = page.next_cursor;
  renderRows(page.items);
  $("page-info").textContent = `Page ${state.page + 1}`;
  $("prev-page").disabled = state.page === 0;
  $("next-page").disabled = !state.nextCursor;
  document.body.dataset.loaded = "true";
}

function clearFormErrors() {
  const formError = $("form-error");
  formError.textContent = "";
  formError.hidden = true;
  for (const field of ["email", "name"]) {
    $(`${field}-error`).textContent = "";
    $(field).removeAttribute("aria-invalid");
  }
}

function showFormErrors(problem) {
  const formError = $("form-error");
  formError.textContent = problem.detail;
  formError.hidden = false;
  for (const error of problem.errors) {
    const field = error.field;
    if (field === "email" || field === "name") {
      $(`${field}-error`).textContent = error.message;
      $(field).setAttribute("aria-invalid", "true");
    }
  }
}

async function addUser(event) {
  event.preventDefault();
  clearFormErrors();
  const form = event.currentTarget;
  const submit = $("add-user");
  submit.disabled = true;
  try {
    const response = await fetch("/api/users", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ email: $("email").value, name: $("name").value }),
    });
    if (!response.ok) {
      showFormErrors(await problemOf(response));
      return;
    }
    const user = await response.json();
    form.reset();
    setStatus(`Added ${user.email}.`);
    await loadPage();
  } catch {
    showFormErrors({ detail: "The server cannot be reached.", errors: [] });
  } finally {
    submit.disabled = false;
  }
}

async function deleteUser(user) {
  const response = await fetch(`/api/users/${encodeURIComponent(user.id)}`, { method: "DELETE" });
  if (response.ok || response.status === 404) {
    setStatus(`Deleted ${user.email}.`);
  } else {
    setStatus((await problemOf(response)).detail);
  }
  await loadPage();
}

document.addEventListener("DOMContentLoaded", () => {
  $("add-user-form").addEventListener("submit", addUser);
  $("next-page").addEventListener("click", () => {
    if (!state.nextCursor) return;
    state.cursors[state.page + 1] = state.nextCursor;
    state.page += 1;
    loadPage();
  });
  $("prev-page").addEventListener("click", () => {
    if (state.page === 0) return;
    state.page -= 1;
    loadPage();
  });
  loadPage();
});
