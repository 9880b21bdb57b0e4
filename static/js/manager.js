// The course manager's pages: sign in, course list, one course (content, enrollment, report).
import { gql } from "./api.js";
import { h, notice, replace, formatDate } from "./dom.js";
import { currentViewer, renderAccount, signInForm } from "./session.js";
import { renderContent } from "./editor.js";
import { enrollButton } from "./enroll.js";
import { renderReport } from "./report.js";

const main = document.getElementById("main");
const account = document.getElementById("account");
let viewer = null;

const COURSE_FIELDS = "id title description published createdAt";

async function start() {
  try {
    viewer = await currentViewer();
  } catch (error) {
    replace(main, notice("error", error.message));
    return;
  }
  if (!viewer) {
    viewer = await signInForm(main, { heading: "Sign in to Roster", hint: "Course managers sign in with their Roster username and password." });
  }
  renderAccount(account, viewer, () => {
    viewer = null;
    location.hash = "";
    start();
  });
  if (!viewer.isAdmin) {
    replace(
      main,
      h("h1", {}, "Courses are managed by administrators"),
      h("p", {}, "Your account does not manage courses. The courses you are enrolled in are in ", h("a", { href: "/learning" }, "My learning"), "."),
    );
    return;
  }
  route();
}

window.addEventListener("hashchange", () => {
  if (viewer?.isAdmin) route();
});

// #/ (courses), #/course/ID (content), #/course/ID/report
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "course" && parts[1]) {
    showCourse(decodeURIComponent(parts[1]), parts[2] === "report" ? "report" : "content");
  } else {
    showCourses();
  }
}

function failed(error) {
  if (error.code === "UNAUTHENTICATED") {
    viewer = null;
    renderAccount(account, null);
    start();
    return;
  }
  replace(main, notice("error", error.message));
}

async function showCourses() {
  document.title = "Courses · Roster";
  replace(main, h("p", { class: "muted" }, "Loading courses…"));
  let courses;
  try {
    courses = (await gql(`query Courses { courses { ${COURSE_FIELDS} } }`)).courses;
  } catch (error) {
    failed(error);
    return;
  }
  const list = courses.length
    ? h(
        "ul",
        { class: "course-list" },
        courses.map((course) =>
          h(
            "li",
            { class: "card course-item" },
            h("a", { href: `#/course/${encodeURIComponent(course.id)}`, class: "course-link" }, course.title),
            h("span", { class: course.published ? "badge ok" : "badge" }, course.published ? "Published" : "Draft"),
            course.description ? h("p", { class: "muted" }, course.description) : null,
            h("p", { class: "muted small" }, `Created ${formatDate(course.createdAt)}`),
          ),
        ),
      )
    : h("p", { class: "muted" }, "There are no courses yet. Create the first one below.");
  replace(main, h("h1", {}, "Courses"), list, newCourseForm());
}

function newCourseForm() {
  const title = h("input", { id: "new-course-title", name: "title", required: true, maxlength: 200 });
  const description = h("textarea", { id: "new-course-description", name: "description", rows: 3 });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button" }, "Create course");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "new-course-heading" },
    h("h2", { id: "new-course-heading" }, "New course"),
    h("label", { for: "new-course-title" }, "Title"),
    title,
    h("label", { for: "new-course-description" }, "Description (optional)"),
    description,
    h("div", { class: "actions" }, submit),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const data = await gql(`mutation CreateCourse($input: CreateCourseInput!) { createCourse(input: $input) { id } }`, {
        input: { title: title.value.trim(), description: description.value.trim() },
      });
      location.hash = `#/course/${encodeURIComponent(data.createCourse.id)}`;
    } catch (error) {
      replace(status, notice("error", error.message));
      submit.disabled = false;
    }
  });
  return form;
}

async function showCourse(courseId, tab) {
  replace(main, h("p", { class: "muted" }, "Loading the course…"));
  let course;
  try {
    course = (await gql(`query Course($id: ID!) { course(id: $id) { ${COURSE_FIELDS} } }`, { id: courseId })).course;
  } catch (error) {
    failed(error);
    return;
  }
  if (!course) {
    replace(main, notice("error", "This course does not exist, or it was deleted."), h("a", { href: "#/" }, "Back to the courses"));
    return;
  }
  document.title = `${course.title} · Roster`;
  const panel = h("section", { id: "course-panel", role: "tabpanel" });
  const reload = () => showCourse(courseId, tab);
  const header = courseHeader(course, reload, () => tab === "report" && renderReport(panel, course));
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Course sections" },
    tabLink("Content", `#/course/${encodeURIComponent(course.id)}`, tab === "content"),
    tabLink("Report", `#/course/${encodeURIComponent(course.id)}/report`, tab === "report"),
  );
  replace(main, h("p", {}, h("a", { href: "#/" }, "← All courses")), header, tabs, panel);
  if (tab === "report") renderReport(panel, course);
  else renderContent(panel, course, reload);
}

function tabLink(label, href, current) {
  return h("a", { href, class: current ? "tab current" : "tab", "aria-current": current ? "page" : null }, label);
}

function courseHeader(course, reload, afterEnroll) {
  const status = h("div", { "aria-live": "polite" });
  let publish = null;
  if (!course.published) {
    publish = h("button", { type: "button", class: "button secondary" }, "Publish");
    publish.addEventListener("click", async () => {
      publish.disabled = true;
      try {
        await gql(`mutation Publish($id: ID!) { publishCourse(courseId: $id) { id published } }`, { id: course.id });
        reload();
      } catch (error) {
        replace(status, notice("error", error.message));
        publish.disabled = false;
      }
    });
  }
  return h(
    "header",
    { class: "course-header" },
    h(
      "div",
      {},
      h("h1", {}, course.title, " ", h("span", { class: course.published ? "badge ok" : "badge" }, course.published ? "Published" : "Draft")),
      course.description ? h("p", { class: "muted" }, course.description) : null,
      course.published ? null : h("p", { class: "muted small" }, "Participants can open the course once it is published."),
      status,
    ),
    h("div", { class: "header-actions" }, publish, enrollButton(course, afterEnroll)),
  );
}

start();
