// /learning: My learning for signed-in internal users, and taking a course without a link.
import { gql } from "./api.js";
import { h, notice, progressBar, replace, STATUS_LABELS } from "./dom.js";
import { renderPlayer, VIEW_FIELDS } from "./player.js";
import { currentViewer, renderAccount, signInForm } from "./session.js";

const main = document.getElementById("main");
const account = document.getElementById("account");
let signedIn = false;

async function fetchAll() {
  return (await gql(`query MyLearning { myLearning { ${VIEW_FIELDS} } }`)).myLearning;
}

async function start() {
  let viewer;
  signedIn = false;
  try {
    viewer = await currentViewer();
  } catch (error) {
    replace(main, notice("error", error.message));
    return;
  }
  if (!viewer) viewer = await signInForm(main, { heading: "Sign in to My learning", hint: "Use your company username and password." });
  signedIn = true;
  renderAccount(account, viewer, () => {
    signedIn = false;
    location.hash = "";
    start();
  });
  route();
}

window.addEventListener("hashchange", () => {
  if (signedIn) route();
});

async function route() {
  const match = location.hash.match(/^#\/course\/(.+)$/);
  let views;
  try {
    views = await fetchAll();
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") start();
    else replace(main, notice("error", error.message));
    return;
  }
  if (match) {
    const courseId = decodeURIComponent(match[1]);
    const refresh = async () => (await fetchAll()).find((v) => v.course.id === courseId) || null;
    const view = views.find((v) => v.course.id === courseId);
    const back = h("p", {}, h("a", { href: "#/" }, "← My learning"));
    const gone = () => replace(main, back, notice("info", "You are no longer enrolled in this course."));
    if (!view) {
      gone();
      return;
    }
    document.title = `${view.course.title} · My learning`;
    const player = h("div", {});
    replace(main, back, player);
    renderPlayer(player, view, { link: null, refresh, onGone: gone });
    return;
  }
  document.title = "My learning · Roster";
  replace(
    main,
    h("h1", {}, "My learning"),
    views.length
      ? h(
          "ul",
          { class: "course-list" },
          views.map(({ course, participant }) =>
            h(
              "li",
              { class: "card course-item" },
              h("a", { href: `#/course/${encodeURIComponent(course.id)}`, class: "course-link" }, course.title),
              h("span", { class: "badge" }, STATUS_LABELS[participant.status] || participant.status),
              progressBar(participant.progress, `Progress in ${course.title}`),
            ),
          ),
        )
      : h("p", { class: "muted" }, "You are not enrolled in any course yet. Courses you are enrolled in by your course manager appear here."),
  );
}

start();
