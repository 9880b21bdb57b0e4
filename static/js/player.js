// Taking a course: lessons, marking them complete, the quiz and the result.
// Used by /learn (acting through the link) and /learning (acting as the signed-in user).
import { gql } from "./api.js";
import { h, notice, plural, progressBar, replace, STATUS_LABELS } from "./dom.js";

export const VIEW_FIELDS = `
  participant { id name status progress score attempts completedAt }
  course {
    id title description published
    lessons { id title html completed }
    quiz { passMark maxAttempts questions { id text choices { id text } } }
  }
`;

// link: the signed link value, or null when acting as the signed-in user.
// refresh: resolves with a fresh view (or null when the link stopped working).
export function renderPlayer(container, view, { link, refresh, onGone }) {
  const { participant, course } = view;
  const lessons = course.lessons || [];
  const done = lessons.filter((l) => l.completed).length;
  const message = h("div", { "aria-live": "polite", class: "player-message" });

  const act = async (work, focusSelector) => {
    replace(message);
    try {
      const after = await work();
      const fresh = await refresh();
      if (!fresh) {
        onGone();
        return;
      }
      renderPlayer(container, fresh, { link, refresh, onGone });
      if (after) container.querySelector(".player-message")?.replaceChildren(after);
      (focusSelector && container.querySelector(focusSelector))?.focus();
    } catch (error) {
      // A link revoked while the page was open: say so the same calm way as on opening it.
      const fresh = await refresh().catch(() => undefined);
      if (fresh === null) onGone();
      else replace(message, notice("error", error.message));
    }
  };

  const complete = (lesson, index) =>
    act(async () => {
      await gql(`mutation Complete($lessonId: ID!, $link: String) { completeLesson(lessonId: $lessonId, link: $link) { id } }`, {
        lessonId: lesson.id,
        link,
      });
      return notice("ok", `“${lesson.title}” is marked complete.`);
    }, index + 1 < lessons.length ? `#lesson-${lessons[index + 1].id} h2` : "#quiz h2, #result h2");

  const lessonItems = lessons.map((lesson, index) =>
    h(
      "article",
      { class: "card lesson", id: `lesson-${lesson.id}`, "aria-labelledby": `lesson-${lesson.id}-title` },
      h("h2", { id: `lesson-${lesson.id}-title`, tabindex: -1 }, `${index + 1}. ${lesson.title}`),
      lessonBody(lesson.html),
      lesson.completed
        ? h("p", { class: "done" }, "✓ Completed")
        : h("button", { type: "button", class: "button", onclick: () => complete(lesson, index) }, "Mark as complete"),
    ),
  );

  replace(
    container,
    h("h1", {}, course.title),
    course.description ? h("p", { class: "muted" }, course.description) : null,
    link ? h("p", { class: "notice notice-warning" }, "This link is personal. Do not forward or share it: anyone who has it can open the course as you.") : null,
    h(
      "section",
      { class: "card summary", "aria-label": "Your progress" },
      h("p", {}, h("strong", {}, STATUS_LABELS[participant.status] || participant.status), lessons.length ? ` · ${done} of ${plural(lessons.length, "lesson")} completed` : ""),
      progressBar(participant.progress, "Course progress"),
      participant.score !== null && participant.score !== undefined ? h("p", {}, `Best quiz score: ${participant.score}%`) : null,
    ),
    message,
    lessons.length ? lessonItems : h("p", { class: "muted" }, "This course has no lessons yet."),
    course.quiz ? quizSection(course, participant, link, act) : null,
    resultSection(participant, course),
  );
}

// The server renders Markdown to sanitized HTML (no scripts, no raw HTML); it is shown as given.
function lessonBody(html) {
  const body = h("div", { class: "lesson-body" });
  body.innerHTML = html || "";
  return body;
}

function quizSection(course, participant, link, act) {
  const quiz = course.quiz;
  const attemptsLeft = quiz.maxAttempts === null ? null : Math.max(quiz.maxAttempts - participant.attempts, 0);
  const finished = participant.status === "PASSED" || participant.status === "FAILED" || attemptsLeft === 0;
  const rules = [
    `You pass with ${quiz.passMark}% or more.`,
    quiz.maxAttempts === null ? "You may try as often as you like." : `Attempts used: ${participant.attempts} of ${quiz.maxAttempts}.`,
  ].join(" ");
  const section = h("section", { id: "quiz", class: "card quiz", "aria-labelledby": "quiz-title" }, h("h2", { id: "quiz-title", tabindex: -1 }, "Quiz"), h("p", { class: "muted" }, rules));
  if (finished) {
    section.append(h("p", {}, participant.status === "PASSED" ? "You passed the quiz." : "You have no attempts left."));
    return section;
  }
  const form = h("form", {});
  quiz.questions.forEach((question, qi) => {
    form.append(
      h(
        "fieldset",
        { class: "question", dataset: { questionId: question.id } },
        h("legend", {}, `${qi + 1}. ${question.text}`),
        h("p", { class: "muted small" }, "Select every answer that applies."),
        question.choices.map((choice) => {
          const id = `choice-${choice.id}`;
          return h("div", { class: "checkbox" }, h("input", { type: "checkbox", id, name: `q-${question.id}`, value: choice.id }), h("label", { for: id }, choice.text));
        }),
      ),
    );
  });
  const submit = h("button", { type: "submit", class: "button" }, "Submit answers");
  form.append(h("div", { class: "actions" }, submit));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    const answers = quiz.questions.map((question) => ({
      questionId: question.id,
      choiceIds: [...form.querySelectorAll(`input[name="q-${question.id}"]:checked`)].map((input) => input.value),
    }));
    act(async () => {
      const data = await gql(
        `mutation Submit($courseId: ID!, $answers: [QuizAnswerInput!]!, $link: String) { submitQuiz(courseId: $courseId, answers: $answers, link: $link) { score passed attemptsLeft } }`,
        { courseId: course.id, answers, link },
      );
      const attempt = data.submitQuiz;
      const left = attempt.attemptsLeft === null ? "" : ` ${plural(attempt.attemptsLeft, "attempt")} left.`;
      return attempt.passed
        ? notice("ok", `You scored ${attempt.score}%: you passed.`)
        : notice("error", `You scored ${attempt.score}%; the pass mark is ${quiz.passMark}%.${left}`);
    }, ".player-message");
  });
  section.append(form);
  return section;
}

function resultSection(participant, course) {
  const lessons = course.lessons || [];
  const lines = {
    COMPLETED: "You have completed this course. Well done!",
    PASSED: `You have completed this course and passed the quiz${participant.score !== null ? ` with ${participant.score}%` : ""}. Well done!`,
    FAILED: "You did not pass the quiz and have no attempts left. Ask your course manager if you need another try.",
  };
  const text = lines[participant.status];
  if (!text && !lessons.length) return null;
  return h(
    "section",
    { id: "result", class: "card result", "aria-labelledby": "result-title" },
    h("h2", { id: "result-title", tabindex: -1 }, "Result"),
    text
      ? h("p", { class: participant.status === "FAILED" ? "" : "done" }, text)
      : h("p", { class: "muted" }, `Complete every lesson${course.quiz ? " and pass the quiz" : ""} to finish the course.`),
  );
}
