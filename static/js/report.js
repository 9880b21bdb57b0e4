// The Report tab: participants with filters, search, pages, CSV export and per-participant actions.
import { gql } from "./api.js";
import { confirmDialog, debounce, EMAIL_LABELS, formatDate, h, KIND_LABELS, notice, progressBar, replace, STATUS_LABELS } from "./dom.js";

const PAGE_SIZES = [10, 25, 50, 100];

const ORDERS = {
  "ENROLLED:false": "Enrolled first",
  "ENROLLED:true": "Enrolled last",
  "NAME:false": "Name A–Z",
  "PROGRESS:true": "Most progress",
  "PROGRESS:false": "Least progress",
  "STATUS:false": "Status",
  "SCORE:true": "Best score",
  "LAST_ACTIVITY:true": "Latest activity",
};

const REPORT = `query Report($courseId: ID!, $first: Int!, $after: String, $filter: ReportFilter, $orderBy: ReportOrder!, $descending: Boolean!) {
  courseReport(courseId: $courseId, first: $first, after: $after, filter: $filter, orderBy: $orderBy, descending: $descending) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name kind email enrolledVia status progress score enrolledAt lastActivityAt emailStatus emailError
      user { displayName }
    } }
  }
}`;

function select(id, label, options) {
  return {
    label: h("label", { for: id }, label),
    control: h(
      "select",
      { id },
      h("option", { value: "" }, "All"),
      Object.entries(options).map(([value, text]) => h("option", { value }, text)),
    ),
  };
}

export function renderReport(panel, course) {
  const status = select("filter-status", "Status", STATUS_LABELS);
  const kind = select("filter-kind", "Type", KIND_LABELS);
  const email = select("filter-email", "Email", EMAIL_LABELS);
  const search = h("input", { id: "filter-search", type: "search", placeholder: "Name or email", autocomplete: "off" });
  const size = h(
    "select",
    { id: "report-size" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === 25 }, String(n))),
  );
  const order = h(
    "select",
    { id: "report-order" },
    Object.entries(ORDERS).map(([value, text]) => h("option", { value }, text)),
  );
  const csv = h(
    "a",
    { class: "button secondary", href: `/reports/${encodeURIComponent(course.id)}.csv`, download: `course-${course.id}-report.csv` },
    "Export CSV",
  );
  const message = h("div", { "aria-live": "polite" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Report pages" });
  const summary = h("p", { class: "muted", "aria-live": "polite" });

  // Cursors of the pages seen so far: going back needs no server-side offset.
  let cursors = [null];
  let page = 0;
  // Loads can overlap (a filter change while an enrollment refreshes): only the latest may draw.
  let latest = 0;

  const load = async () => {
    const ticket = ++latest;
    const filter = {};
    if (status.control.value) filter.status = status.control.value;
    if (kind.control.value) filter.kind = kind.control.value;
    if (email.control.value) filter.emailStatus = email.control.value;
    if (search.value.trim()) filter.search = search.value.trim();
    const pageSize = Number(size.value);
    table.setAttribute("aria-busy", "true");
    try {
      const [orderBy, descending] = order.value.split(":");
      const data = await gql(REPORT, {
        courseId: course.id,
        first: pageSize,
        after: cursors[page],
        filter,
        orderBy,
        descending: descending === "true",
      });
      if (ticket !== latest) return;
      const connection = data.courseReport;
      const nodes = connection.edges.map((edge) => edge.node);
      cursors[page + 1] = connection.pageInfo.endCursor;
      const from = page * pageSize + 1;
      summary.textContent = connection.totalCount
        ? `Showing ${from}–${from + nodes.length - 1} of ${connection.totalCount} participants.`
        : "No participant matches.";
      replace(table, nodes.length ? reportTable(nodes, course, message, reload) : null);
      replace(
        pager,
        h("button", { type: "button", class: "button secondary small", disabled: page === 0, onclick: () => go(page - 1) }, "← Previous"),
        h("span", { class: "muted" }, `Page ${page + 1}`),
        h("button", { type: "button", class: "button secondary small", disabled: !connection.pageInfo.hasNextPage, onclick: () => go(page + 1) }, "Next →"),
      );
    } catch (error) {
      if (ticket === latest) replace(message, notice("error", error.message));
    } finally {
      if (ticket === latest) table.removeAttribute("aria-busy");
    }
  };
  const go = (next) => {
    page = next;
    load();
  };
  const restart = () => {
    cursors = [null];
    page = 0;
    load();
  };
  const reload = () => load();

  for (const control of [status.control, kind.control, email.control, order, size]) control.addEventListener("change", restart);
  search.addEventListener("input", debounce(restart, 250));

  replace(
    panel,
    h("h2", { class: "visually-hidden" }, "Report"),
    h(
      "p",
      { class: "notice notice-warning" },
      h("strong", {}, "Links are personal. "),
      "Each participant's link opens the course without signing in and never expires: anyone who has it can act as that participant. ",
      "Never share or post links. If a link has leaked, regenerate it: the old one stops working at once.",
    ),
    h(
      "div",
      { class: "filters", role: "search" },
      h("div", { class: "field" }, status.label, status.control),
      h("div", { class: "field" }, kind.label, kind.control),
      h("div", { class: "field" }, email.label, email.control),
      h("div", { class: "field grow" }, h("label", { for: "filter-search" }, "Search"), search),
      h("div", { class: "field" }, h("label", { for: "report-order" }, "Sort by"), order),
      h("div", { class: "field end" }, csv),
    ),
    message,
    summary,
    table,
    h("div", { class: "pager-row" }, pager, h("div", { class: "page-size" }, h("label", { for: "report-size" }, "Rows per page"), size)),
  );
  load();
}

const COLUMNS = ["Name", "Type", "Enrolled via", "Status", "Progress", "Score", "Enrolled at", "Last activity", "Email", "Actions"];

function reportTable(nodes, course, message, reload) {
  return h(
    "table",
    { class: "report" },
    h("caption", { class: "visually-hidden" }, `Participants of ${course.title}`),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      nodes.map((p) => {
        const cells = [
          h("div", {}, h("strong", {}, p.name), p.user?.displayName ? h("div", { class: "muted small" }, p.user.displayName) : null),
          KIND_LABELS[p.kind] || p.kind,
          p.enrolledVia || "—",
          h("span", { class: `status status-${p.status.toLowerCase()}` }, STATUS_LABELS[p.status] || p.status),
          progressBar(p.progress, `Progress of ${p.name}`),
          p.score === null || p.score === undefined ? "—" : `${p.score}%`,
          formatDate(p.enrolledAt),
          formatDate(p.lastActivityAt),
          h(
            "div",
            {},
            h("span", { class: `email email-${p.emailStatus.toLowerCase()}` }, EMAIL_LABELS[p.emailStatus] || p.emailStatus),
            p.emailError ? h("div", { class: "muted small" }, p.emailError) : null,
          ),
          actions(p, message, reload),
        ];
        return h(
          "tr",
          { dataset: { participant: p.name } },
          cells.map((content, i) => h("td", { "data-label": COLUMNS[i] }, content)),
        );
      }),
    ),
  );
}

function actions(p, message, reload) {
  const run = async (button, work) => {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      replace(message, notice("error", error.message));
      button.disabled = false;
    }
  };
  const resend = h("button", { type: "button", class: "button secondary small", "aria-label": `Resend link ${p.name}` }, "Resend link");
  resend.addEventListener("click", () =>
    run(resend, async () => {
      const ok = await confirmDialog({
        title: `Resend the link to ${p.name}?`,
        text: "A new personal link is emailed to them. The link they have now stops working at once.",
        confirmLabel: "Resend link",
        danger: false,
      });
      if (!ok) {
        resend.disabled = false;
        return;
      }
      await resendLink(p.id);
      replace(message, notice("ok", `A new link is on its way to ${p.name}.`));
      reload();
    }),
  );
  const regenerate = h("button", { type: "button", class: "button secondary small", "aria-label": `New link ${p.name}` }, "New link");
  regenerate.addEventListener("click", () =>
    run(regenerate, async () => {
      const ok = await confirmDialog({
        title: `Make a new link for ${p.name}?`,
        text: "The link they have now stops working at once. The new link is shown to you once and is not emailed.",
        confirmLabel: "Make a new link",
        danger: false,
      });
      if (!ok) {
        regenerate.disabled = false;
        return;
      }
      const data = await gql(`mutation Regenerate($id: ID!) { regenerateLink(participantId: $id, sendEmail: false) { link } }`, { id: p.id });
      replace(
        message,
        h(
          "div",
          { class: "notice notice-ok", role: "status" },
          h("p", {}, `New link for ${p.name} (shown only now; give it only to them):`),
          h("input", { type: "text", readonly: true, value: data.regenerateLink.link, "aria-label": `New link for ${p.name}` }),
        ),
      );
      regenerate.disabled = false;
    }),
  );
  const remove = h("button", { type: "button", class: "button danger small", "aria-label": `Remove ${p.name}` }, "Remove");
  remove.addEventListener("click", () =>
    run(remove, async () => {
      const ok = await confirmDialog({
        title: `Remove ${p.name} from the course?`,
        text: "Their progress, quiz attempts and link are deleted. You can enroll them again later; they will get a new link and start over.",
        confirmLabel: "Remove",
      });
      if (!ok) {
        remove.disabled = false;
        return;
      }
      await gql(`mutation Remove($id: ID!) { removeParticipant(participantId: $id) { removed } }`, { id: p.id });
      replace(message, notice("ok", `${p.name} was removed from the course.`));
      reload();
    }),
  );
  return h("div", { class: "row-actions" }, resend, regenerate, remove);
}

async function resendLink(participantId) {
  try {
    await gql(`mutation Resend($id: ID!) { resendLink(participantId: $id) { __typename } }`, { id: participantId });
  } catch (error) {
    // A server without resendLink yet: a regenerated link sent by email is the same outcome.
    if (error.code !== "GRAPHQL_VALIDATION_FAILED") throw error;
    await gql(`mutation Regenerate($id: ID!) { regenerateLink(participantId: $id, sendEmail: true) { participant { id } } }`, { id: participantId });
  }
}
