// Automatic enrollment: groups whose members join the course now and whenever they join the group.
import { gql } from "./api.js";
import { debounce, h, notice, plural, replace } from "./dom.js";

const SET = `mutation SetAutoEnrollment($courseId: ID!, $groups: [String!]!, $enabled: Boolean!) {
  setAutoEnrollment(courseId: $courseId, groups: $groups, enabled: $enabled) { enrolledCount course { autoEnrollGroups { name } } }
}`;

export function autoEnrollSection(course, groups) {
  const section = h("section", { class: "card", "aria-labelledby": "auto-title" });
  const status = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "chips", "aria-label": "Groups enrolled automatically" });
  const input = h("input", { id: "auto-group", type: "search", autocomplete: "off", list: "auto-group-options", placeholder: "Group name" });
  const options = h("datalist", { id: "auto-group-options" });
  const add = h("button", { type: "submit", class: "button secondary" }, "Enroll this group automatically");

  const set = async (names, enabled) => {
    try {
      const data = await gql(SET, { courseId: course.id, groups: names, enabled });
      const result = data.setAutoEnrollment;
      render(result.course.autoEnrollGroups);
      replace(
        status,
        notice(
          "ok",
          enabled
            ? `${names.join(", ")} now enrolls automatically; ${plural(result.enrolledCount, "member")} enrolled now.`
            : `${names.join(", ")} no longer enrolls automatically. Its members stay enrolled.`,
        ),
      );
      return true;
    } catch (error) {
      replace(status, notice("error", error.message));
      return false;
    }
  };

  const render = (current) =>
    replace(
      list,
      current.length
        ? current.map((group) =>
            h(
              "li",
              { class: "chip" },
              group.name,
              h("button", { type: "button", class: "chip-remove", "aria-label": `Stop enrolling ${group.name} automatically`, onclick: () => set([group.name], false) }, "×"),
            ),
          )
        : h("li", { class: "muted" }, "No group enrolls automatically."),
    );
  render(groups);

  input.addEventListener(
    "input",
    debounce(async () => {
      const text = input.value.trim();
      if (!text) return;
      try {
        const data = await gql(`query Groups($search: String!) { groups(search: $search, first: 10) { name } }`, { search: text });
        replace(options, data.groups.map((g) => h("option", { value: g.name })));
      } catch {
        // Suggestions are a convenience; the form still works without them.
      }
    }, 200),
  );
  const form = h("form", { class: "filters" }, h("div", { class: "field grow" }, h("label", { for: "auto-group" }, "Group"), input, options), h("div", { class: "field" }, add));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) return;
    add.disabled = true;
    if (await set([name], true)) input.value = "";
    add.disabled = false;
  });
  section.append(
    h("h2", { id: "auto-title" }, "Automatic enrollment"),
    h("p", { class: "muted" }, "Active members of these groups are enrolled now, and anyone who joins later is enrolled and emailed their link."),
    list,
    form,
    status,
  );
  return section;
}
