// The Content tab: a course's lessons (add, edit, reorder, delete) and its quiz.
import { gql } from "./api.js";
import { autoEnrollSection } from "./autoenroll.js";
import { confirmDialog, h, notice, plural, replace } from "./dom.js";

const CONTENT = `query Content($id: ID!) { course(id: $id) {
  id
  lessons { id position title body }
  quiz { passMark maxAttempts questions { id text choices { id text correct } } }
  autoEnrollGroups { name }
} }`;

export async function renderContent(panel, course, reloadCourse, flash) {
  replace(panel, h("p", { class: "muted" }, "Loading lessons…"));
  let content;
  try {
    content = (await gql(CONTENT, { id: course.id })).course;
  } catch (error) {
    replace(panel, notice("error", error.message));
    return;
  }
  const message = h("div", { "aria-live": "polite" }, flash ? notice("ok", flash) : null);
  const reload = (done) => renderContent(panel, course, reloadCourse, done);
  replace(
    panel,
    message,
    h("h2", {}, "Lessons"),
    lessonList(content.lessons, course, message, reload),
    lessonForm(course, null, message, reload),
    h("h2", {}, "Quiz"),
    quizEditor(content.quiz, course, message, reload),
    autoEnrollSection(course, content.autoEnrollGroups),
  );
}

function lessonList(lessons, course, message, reload) {
  if (!lessons.length) return h("p", { class: "muted" }, "No lessons yet. Add the first one below.");
  const move = async (index, delta) => {
    const ids = lessons.map((l) => l.id);
    const [moved] = ids.splice(index, 1);
    ids.splice(index + delta, 0, moved);
    try {
      await gql(`mutation Reorder($courseId: ID!, $ids: [ID!]!) { reorderLessons(courseId: $courseId, lessonIds: $ids) { id } }`, {
        courseId: course.id,
        ids,
      });
      reload();
    } catch (error) {
      replace(message, notice("error", error.message));
    }
  };
  return h(
    "ol",
    { class: "lesson-list" },
    lessons.map((lesson, index) => {
      const item = h("li", { class: "card lesson-item" });
      const view = () =>
        replace(
          item,
          h("div", { class: "lesson-title" }, h("strong", {}, lesson.title)),
          h(
            "div",
            { class: "row-actions" },
            h("button", { type: "button", class: "button secondary small", disabled: index === 0, "aria-label": `Move ${lesson.title} up`, onclick: () => move(index, -1) }, "↑"),
            h(
              "button",
              { type: "button", class: "button secondary small", disabled: index === lessons.length - 1, "aria-label": `Move ${lesson.title} down`, onclick: () => move(index, 1) },
              "↓",
            ),
            h("button", { type: "button", class: "button secondary small", onclick: () => replace(item, lessonForm(course, lesson, message, reload, view)) }, "Edit"),
            h(
              "button",
              {
                type: "button",
                class: "button danger small",
                onclick: async () => {
                  const ok = await confirmDialog({
                    title: `Delete the lesson “${lesson.title}”?`,
                    text: "Participants' completions of this lesson are deleted with it.",
                    confirmLabel: "Delete lesson",
                  });
                  if (!ok) return;
                  try {
                    await gql(`mutation DeleteLesson($id: ID!) { deleteLesson(lessonId: $id) }`, { id: lesson.id });
                    reload();
                  } catch (error) {
                    replace(message, notice("error", error.message));
                  }
                },
              },
              "Delete",
            ),
          ),
        );
      view();
      return item;
    }),
  );
}

let formCounter = 0;

// A lesson form: adds a lesson, or edits one when lesson is given.
function lessonForm(course, lesson, message, reload, cancel) {
  const n = ++formCounter;
  const title = h("input", { id: `lesson-title-${n}`, required: true, maxlength: 200, value: lesson?.title ?? "" });
  const body = h("textarea", { id: `lesson-body-${n}`, rows: lesson ? 10 : 6 });
  body.value = lesson?.body ?? "";
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button" }, lesson ? "Save lesson" : "Add lesson");
  const form = h(
    "form",
    { class: lesson ? "lesson-form" : "card lesson-form" },
    lesson ? null : h("h3", {}, "New lesson"),
    h("label", { for: title.id }, "Lesson title"),
    title,
    h("label", { for: body.id }, "Text (Markdown: **bold**, _italic_, # headings, - lists, [links](https://…))"),
    body,
    h("div", { class: "actions" }, submit, cancel ? h("button", { type: "button", class: "button secondary", onclick: cancel }, "Cancel") : null),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const input = { title: title.value.trim(), body: body.value };
    try {
      if (lesson) {
        await gql(`mutation UpdateLesson($id: ID!, $input: LessonInput!) { updateLesson(lessonId: $id, input: $input) { id } }`, { id: lesson.id, input });
        reload(`The lesson “${input.title}” was saved.`);
      } else {
        await gql(`mutation CreateLesson($courseId: ID!, $input: LessonInput!) { createLesson(courseId: $courseId, input: $input) { id } }`, {
          courseId: course.id,
          input,
        });
        reload(`The lesson “${input.title}” was added.`);
      }
    } catch (error) {
      replace(status, notice("error", error.message));
      submit.disabled = false;
    }
  });
  return form;
}

// The quiz editor keeps a plain copy of the quiz and saves it whole with setQuiz.
function quizEditor(quiz, course, message, reload) {
  const state = {
    passMark: quiz?.passMark ?? 80,
    maxAttempts: quiz?.maxAttempts ?? null,
    questions: (quiz?.questions ?? []).map((q) => ({ text: q.text, choices: q.choices.map((c) => ({ text: c.text, correct: !!c.correct })) })),
  };
  const n = ++formCounter;
  const passMark = h("input", { id: `quiz-pass-${n}`, type: "number", min: 0, max: 100, required: true, value: state.passMark });
  const attempts = h("input", { id: `quiz-attempts-${n}`, type: "number", min: 1, value: state.maxAttempts ?? "", placeholder: "Any number" });
  const questions = h("ol", { class: "question-list" });
  const status = h("div", { "aria-live": "polite" });

  const renderQuestions = () => {
    replace(
      questions,
      state.questions.map((question, qi) => {
        const qid = `q-${n}-${qi}`;
        const text = h("input", { id: qid, required: true, value: question.text });
        text.addEventListener("input", () => (question.text = text.value));
        return h(
          "li",
          { class: "card question" },
          h("label", { for: qid }, `Question ${qi + 1}`),
          text,
          h(
            "fieldset",
            {},
            h("legend", {}, "Choices (tick every correct one)"),
            question.choices.map((choice, ci) => {
              const cid = `${qid}-c${ci}`;
              const correct = h("input", { type: "checkbox", id: `${cid}-ok`, checked: choice.correct, "aria-label": `Choice ${ci + 1} is correct` });
              correct.addEventListener("change", () => (choice.correct = correct.checked));
              const ctext = h("input", { id: cid, required: true, value: choice.text, "aria-label": `Choice ${ci + 1} of question ${qi + 1}` });
              ctext.addEventListener("input", () => (choice.text = ctext.value));
              return h(
                "div",
                { class: "choice-row" },
                correct,
                ctext,
                h(
                  "button",
                  {
                    type: "button",
                    class: "button secondary small",
                    "aria-label": `Remove choice ${ci + 1} of question ${qi + 1}`,
                    onclick: () => {
                      question.choices.splice(ci, 1);
                      renderQuestions();
                    },
                  },
                  "×",
                ),
              );
            }),
            h(
              "button",
              {
                type: "button",
                class: "button secondary small",
                onclick: () => {
                  question.choices.push({ text: "", correct: false });
                  renderQuestions();
                  questions.querySelector(`#${qid}-c${question.choices.length - 1}`)?.focus();
                },
              },
              "Add a choice",
            ),
          ),
          h(
            "button",
            {
              type: "button",
              class: "button danger small",
              onclick: () => {
                state.questions.splice(qi, 1);
                renderQuestions();
              },
            },
            "Remove question",
          ),
        );
      }),
    );
  };
  renderQuestions();

  const addQuestion = h("button", { type: "button", class: "button secondary" }, "Add a question");
  addQuestion.addEventListener("click", () => {
    state.questions.push({ text: "", choices: [{ text: "", correct: true }, { text: "", correct: false }] });
    renderQuestions();
    questions.querySelector(`#q-${n}-${state.questions.length - 1}`)?.focus();
  });
  const submit = h("button", { type: "submit", class: "button" }, "Save quiz");
  const form = h(
    "form",
    { class: "card quiz-form" },
    h("p", { class: "muted" }, quiz ? `The quiz has ${plural(quiz.questions.length, "question")}.` : "This course has no quiz yet."),
    h(
      "div",
      { class: "filters" },
      h("div", { class: "field" }, h("label", { for: passMark.id }, "Pass mark (%)"), passMark),
      h("div", { class: "field" }, h("label", { for: attempts.id }, "Attempts allowed (empty: any number)"), attempts),
    ),
    questions,
    h("div", { class: "actions" }, addQuestion, submit),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const input = {
      passMark: Number(passMark.value),
      maxAttempts: attempts.value === "" ? null : Number(attempts.value),
      questions: state.questions.map((q) => ({ text: q.text.trim(), choices: q.choices.map((c) => ({ text: c.text.trim(), correct: c.correct })) })),
    };
    try {
      await gql(`mutation SetQuiz($courseId: ID!, $input: QuizInput!) { setQuiz(courseId: $courseId, input: $input) { passMark } }`, {
        courseId: course.id,
        input,
      });
      reload("The quiz was saved.");
    } catch (error) {
      replace(status, notice("error", error.message));
      submit.disabled = false;
    }
  });
  return form;
}
