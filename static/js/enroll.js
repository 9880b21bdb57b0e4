// Enrollment: the split "Enroll participants" button, its two dialogs and the result summary.
import { gql } from "./api.js";
import { debounce, h, KIND_LABELS, notice, plural, replace, sentence } from "./dom.js";

const RESULT_FIELDS = `
  enrolled { link participant { id name kind enrolledVia emailStatus user { displayName } } }
  skipped { entry reason message participant { id name } suggestedUser { username displayName email } }
`;

const ENROLL_USERS = `mutation EnrollParticipants($courseId: ID!, $usernames: [String!]!, $groups: [String!]!, $sendEmail: Boolean!) {
  enrollParticipants(courseId: $courseId, usernames: $usernames, groups: $groups, sendEmail: $sendEmail) { ${RESULT_FIELDS} }
}`;

const ENROLL_EXTERNAL = `mutation EnrollExternal($courseId: ID!, $emails: [String!]!, $sendEmail: Boolean!) {
  enrollExternal(courseId: $courseId, emails: $emails, sendEmail: $sendEmail) { ${RESULT_FIELDS} }
}`;

// Pasted addresses: separated by commas, semicolons, spaces or line breaks.
export function splitEmails(text) {
  return text
    .split(/[\s,;]+/)
    .map((item) => item.trim())
    .filter(Boolean);
}

// The button with an arrow beside it; the arrow's menu holds "Enroll external participants".
export function enrollButton(course, afterEnroll) {
  const menuId = `enroll-menu-${course.id}`;
  const external = h("button", { type: "button", role: "menuitem", class: "menu-item", tabindex: -1 }, "Enroll external participants");
  const menu = h("div", { id: menuId, role: "menu", class: "menu", hidden: true, "aria-label": "More ways to enroll" }, external);
  const arrow = h(
    "button",
    {
      type: "button",
      class: "button split-arrow",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      "aria-controls": menuId,
      "aria-label": "More ways to enroll",
    },
    h("span", { "aria-hidden": "true" }, "▾"),
  );
  const main = h("button", { type: "button", class: "button split-main" }, "Enroll participants");

  const closeMenu = (refocus) => {
    menu.hidden = true;
    arrow.setAttribute("aria-expanded", "false");
    if (refocus) arrow.focus();
  };
  const openMenu = () => {
    menu.hidden = false;
    arrow.setAttribute("aria-expanded", "true");
    external.focus();
  };
  arrow.addEventListener("click", () => (menu.hidden ? openMenu() : closeMenu(true)));
  arrow.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      openMenu();
    }
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeMenu(true);
    }
  });
  menu.addEventListener("focusout", (event) => {
    if (!menu.contains(event.relatedTarget) && event.relatedTarget !== arrow) closeMenu(false);
  });
  onOutsideClick(() => !menu.hidden && closeMenu(false), [menu, arrow]);

  main.addEventListener("click", () => openDialog(course, "users", afterEnroll));
  external.addEventListener("click", () => {
    closeMenu(false);
    openDialog(course, "external", afterEnroll);
  });
  return h("div", { class: "split-button" }, main, arrow, menu);
}

function onOutsideClick(callback, inside) {
  const listener = (event) => {
    // The page re-renders often: a listener whose menu is gone removes itself.
    if (!inside[0].isConnected) document.removeEventListener("click", listener);
    else if (!inside.some((el) => el.contains(event.target))) callback();
  };
  document.addEventListener("click", listener);
}

function openDialog(course, mode, afterEnroll) {
  const headingId = "enroll-heading";
  const body = h("div", { class: "dialog-body" });
  const close = h("button", { type: "button", class: "button secondary close", "aria-label": "Close" }, "Close");
  const dialog = h(
    "dialog",
    { class: "dialog wide", "aria-labelledby": headingId },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: headingId }, mode === "external" ? "Enroll external participants" : "Enroll participants"),
      close,
    ),
    h("p", { class: "muted" }, `Course: ${course.title}`),
    course.published
      ? null
      : h("p", { class: "notice notice-warning" }, "This course is a draft: the links people receive will open it only once you publish it."),
    body,
  );
  let changed = false;
  const done = () => {
    changed = true;
  };
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (changed) afterEnroll();
  });
  document.body.append(dialog);
  if (mode === "external") externalForm(body, course, done);
  else usersForm(body, course, done);
  dialog.showModal();
  dialog.querySelector("input, textarea")?.focus();
}

function sendEmailBox(id) {
  const box = h("input", { type: "checkbox", id, checked: true });
  return { box, field: h("div", { class: "checkbox" }, box, h("label", { for: id }, "Email each participant their personal link")) };
}

function usersForm(body, course, done) {
  const selected = new Map(); // key "user:NAME" / "group:NAME" -> label
  const search = h("input", {
    id: "enroll-search",
    type: "search",
    autocomplete: "off",
    placeholder: "Type a user name or a group",
    "aria-controls": "enroll-suggestions",
    "aria-describedby": "enroll-search-hint",
  });
  const suggestions = h("ul", { id: "enroll-suggestions", class: "suggestions", "aria-label": "Matching users and groups" });
  const chosen = h("ul", { class: "chips", "aria-label": "Chosen users and groups" });
  const status = h("div", { "aria-live": "polite" });
  const { box, field } = sendEmailBox("enroll-send-email");
  const submit = h("button", { type: "submit", class: "button", disabled: true }, "Enroll");

  const renderChosen = () => {
    replace(
      chosen,
      [...selected.entries()].map(([key, label]) =>
        h(
          "li",
          { class: "chip" },
          label,
          h(
            "button",
            {
              type: "button",
              class: "chip-remove",
              "aria-label": `Remove ${label}`,
              onclick: () => {
                selected.delete(key);
                renderChosen();
                search.focus();
              },
            },
            "×",
          ),
        ),
      ),
    );
    submit.disabled = selected.size === 0;
    submit.textContent = selected.size ? `Enroll (${plural(selected.size, "choice")})` : "Enroll";
  };

  const choose = (key, label) => {
    selected.set(key, label);
    renderChosen();
    search.value = "";
    replace(suggestions);
    search.focus();
  };

  let latest = 0;
  const lookUp = debounce(async () => {
    const text = search.value.trim();
    const ticket = ++latest;
    if (!text) {
      replace(suggestions);
      return;
    }
    try {
      const data = await gql(
        `query Directory($search: String!) { users(search: $search, first: 8) { username displayName email active } groups(search: $search, first: 8) { name } }`,
        { search: text },
      );
      if (ticket !== latest) return; // an older answer arriving late
      const items = [
        ...data.groups.map((g) => ({ key: `group:${g.name}`, label: `Group: ${g.name}`, detail: "every active member" })),
        ...data.users.map((u) => ({
          key: `user:${u.username}`,
          label: u.username,
          detail: [u.displayName, u.email, u.active ? null : "inactive"].filter(Boolean).join(" · "),
        })),
      ].filter((item) => !selected.has(item.key));
      replace(
        suggestions,
        items.length
          ? items.map((item) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "suggestion", onclick: () => choose(item.key, item.label) },
                  h("strong", {}, item.label),
                  item.detail ? h("span", { class: "muted" }, ` ${item.detail}`) : null,
                ),
              ),
            )
          : h("li", { class: "muted" }, "No user or group matches."),
      );
    } catch (error) {
      replace(suggestions, h("li", {}, notice("error", error.message)));
    }
  }, 200);
  search.addEventListener("input", lookUp);
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      const first = suggestions.querySelector("button");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Enter") {
      // Enter picks the single best match instead of submitting half a choice.
      const first = suggestions.querySelector("button");
      event.preventDefault();
      if (first) first.click();
    }
  });
  suggestions.addEventListener("keydown", (event) => {
    const buttons = [...suggestions.querySelectorAll("button")];
    const index = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && index < buttons.length - 1) {
      event.preventDefault();
      buttons[index + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (index > 0 ? buttons[index - 1] : search).focus();
    }
  });

  const form = h(
    "form",
    {},
    h("label", { for: "enroll-search" }, "Users or groups"),
    h("p", { id: "enroll-search-hint", class: "muted small" }, "Start typing; pick from the list with the arrow keys or a click. A group enrolls each of its active members."),
    search,
    suggestions,
    chosen,
    field,
    h("div", { class: "actions" }, submit),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const usernames = [...selected.keys()].filter((k) => k.startsWith("user:")).map((k) => k.slice(5));
    const groups = [...selected.keys()].filter((k) => k.startsWith("group:")).map((k) => k.slice(6));
    submit.disabled = true;
    replace(status, h("p", { class: "muted" }, "Enrolling…"));
    try {
      const data = await gql(ENROLL_USERS, { courseId: course.id, usernames, groups, sendEmail: box.checked });
      done();
      showResult(body, course, data.enrollParticipants, box.checked, done, () => usersForm(body, course, done));
    } catch (error) {
      replace(status, notice("error", error.message));
      submit.disabled = false;
    }
  });
  replace(body, form);
}

function externalForm(body, course, done) {
  const emails = h("textarea", {
    id: "enroll-emails",
    rows: 6,
    placeholder: "ana@example.com, ben@example.org\nchris@example.net",
    "aria-describedby": "enroll-emails-hint",
  });
  const count = h("p", { class: "muted small", "aria-live": "polite" });
  const status = h("div", { "aria-live": "polite" });
  const { box, field } = sendEmailBox("enroll-external-send-email");
  const submit = h("button", { type: "submit", class: "button", disabled: true }, "Enroll");
  emails.addEventListener("input", () => {
    const n = splitEmails(emails.value).length;
    count.textContent = n ? `${plural(n, "address", "addresses")} to enroll.` : "";
    submit.disabled = n === 0;
  });
  const form = h(
    "form",
    {},
    h("label", { for: "enroll-emails" }, "Email addresses"),
    h(
      "p",
      { id: "enroll-emails-hint", class: "muted small" },
      "For people without an account here. Paste addresses separated by commas, spaces or lines. ",
      "Someone who has an account should be enrolled by user name instead: enrolled by email, they won't see the course in My learning.",
    ),
    emails,
    count,
    field,
    h("div", { class: "actions" }, submit),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(status, h("p", { class: "muted" }, "Enrolling…"));
    try {
      const data = await gql(ENROLL_EXTERNAL, { courseId: course.id, emails: splitEmails(emails.value), sendEmail: box.checked });
      done();
      showResult(body, course, data.enrollExternal, box.checked, done, () => externalForm(body, course, done));
    } catch (error) {
      replace(status, notice("error", error.message));
      submit.disabled = false;
    }
  });
  replace(body, form);
}

function showResult(body, course, result, emailed, done, again) {
  const more = h("button", { type: "button", class: "button secondary", onclick: again }, "Enroll more");
  replace(body, resultSummary(course, result, emailed, done), h("div", { class: "actions" }, more));
  body.querySelector("h3")?.focus();
}

// Who was enrolled, who was skipped and why; one click to enroll an internal user instead.
export function resultSummary(course, result, emailed, done) {
  const section = h("section", { class: "result", "aria-label": "Enrollment result" });
  const enrolled = result.enrolled;
  const skipped = result.skipped;
  section.append(
    h("h3", { tabindex: -1, class: "result-title" }, `Enrolled ${plural(enrolled.length, "participant")}, skipped ${skipped.length}.`),
  );
  if (enrolled.length) {
    section.append(
      h("h4", {}, "Enrolled"),
      h(
        "ul",
        { class: "result-list enrolled" },
        enrolled.map(({ participant }) =>
          h(
            "li",
            {},
            h("strong", {}, participant.name),
            ` — ${KIND_LABELS[participant.kind]}`,
            participant.enrolledVia ? `, via ${participant.enrolledVia}` : "",
          ),
        ),
      ),
      emailed
        ? h("p", { class: "muted small" }, "Each of them is being emailed their personal link.")
        : h("p", { class: "muted small" }, "No email was sent: hand each person their own link below."),
      h(
        "details",
        { class: "links" },
        h("summary", {}, "Show the personal links (shown only now)"),
        h("p", { class: "warning" }, "Each link lets anyone who has it act as that participant. Give each link only to its owner."),
        h(
          "ul",
          {},
          enrolled.map(({ participant, link }) =>
            h("li", {}, h("span", {}, `${participant.name}: `), h("input", { type: "text", readonly: true, value: link, "aria-label": `Link for ${participant.name}` })),
          ),
        ),
      ),
    );
  }
  if (skipped.length) {
    section.append(
      h("h4", {}, "Skipped"),
      h(
        "ul",
        { class: "result-list skipped" },
        skipped.map((entry) => {
          const item = h("li", {}, h("strong", {}, entry.entry), `: ${sentence(entry.message)}`);
          if (entry.reason === "INTERNAL_USER_EMAIL" && entry.suggestedUser) {
            item.append(" ", insteadButton(course, entry.suggestedUser, item, done));
          }
          return item;
        }),
      ),
    );
  }
  return section;
}

function insteadButton(course, user, item, done) {
  const who = user.displayName ? `${user.displayName} (${user.username})` : user.username;
  const button = h("button", { type: "button", class: "button small" }, `Enroll ${who} instead`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const data = await gql(ENROLL_USERS, { courseId: course.id, usernames: [user.username], groups: [], sendEmail: true });
      done();
      const result = data.enrollParticipants;
      button.replaceWith(
        result.enrolled.length
          ? notice("ok", `Enrolled ${user.username} as an internal user; the course will appear in their My learning.`)
          : notice("error", result.skipped[0]?.message || "The user could not be enrolled."),
      );
    } catch (error) {
      button.disabled = false;
      item.append(notice("error", error.message));
    }
  });
  return button;
}
