// /learn#<link>: the course for the link's holder. The link never leaves the page except in GraphQL requests.
import { gql } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { renderPlayer, VIEW_FIELDS } from "./player.js";

const main = document.getElementById("main");
const link = decodeURIComponent(location.hash.replace(/^#/, "")).trim();

async function fetchView() {
  const data = await gql(`query View($link: String!) { participantView(link: $link) { ${VIEW_FIELDS} } }`, { link });
  return data.participantView;
}

// Unknown, revoked and forged links look the same: no detail, a calm next step.
function gone() {
  document.title = "Link no longer valid · Roster";
  replace(
    main,
    h(
      "section",
      { class: "card narrow calm", "aria-labelledby": "gone-title" },
      h("h1", { id: "gone-title" }, "This link is no longer valid"),
      h("p", {}, "Please ask your course manager for a new link to the course."),
    ),
  );
}

async function start() {
  if (!link) {
    gone();
    return;
  }
  try {
    const view = await fetchView();
    if (!view) {
      gone();
      return;
    }
    document.title = `${view.course.title} · Roster`;
    renderPlayer(main, view, { link, refresh: fetchView, onGone: gone });
  } catch (error) {
    replace(main, notice("error", error.message));
  }
}

window.addEventListener("hashchange", () => location.reload());
start();
