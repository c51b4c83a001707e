package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/thecombine/combine"
)

// maxAnswerLen bounds one clarification answer and a decision's comment,
// in characters.
const maxAnswerLen = 10000

func callerOf(ctx context.Context) (*combine.AuthContext, error) {
	c := combine.AuthFromContext(ctx)
	if c == nil {
		return nil, combine.Errorf(combine.EUNAUTHORIZED, "authentication required")
	}
	return c, nil
}

// checkText refuses text the database cannot store (NUL, invalid UTF-8)
// or longer than max characters (code points; 0: no limit); what names it.
func checkText(what, text string, max int) error {
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		return combine.Errorf(combine.EINVALID, "%s must be valid UTF-8 text without NUL characters", what)
	}
	if max > 0 && utf8.RuneCountInString(text) > max {
		return combine.Errorf(combine.EINVALID, "%s is longer than %d characters", what, max)
	}
	return nil
}

// checkItemRef refuses an action that does not name a work item.
func checkItemRef(path string, attemptNo int, attemptRequired bool) error {
	if strings.TrimSpace(path) == "" {
		return combine.Errorf(combine.EINVALID, `"step_path" is required: the work item this action is for (see the execution's "pending")`)
	}
	if attemptNo < 0 || (attemptRequired && attemptNo == 0) {
		return combine.Errorf(combine.EINVALID, `"attempt" must be the work item's attempt number (1 or more)`)
	}
	return nil
}

// checkDocument refuses content that is not a JSON object or that the
// database cannot store as text.
func checkDocument(content json.RawMessage) error {
	if !utf8.Valid(content) || bytes.IndexByte(content, 0) >= 0 {
		return combine.Errorf(combine.EINVALID, `"content" must be valid UTF-8 text without NUL bytes`)
	}
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(content); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		return combine.Errorf(combine.EINVALID, `"content" must be a JSON object: the document`)
	}
	return nil
}

// openWorkItem locks execution id and returns the work item at path in
// attempt attemptNo (any attempt when 0) whose attempt is in status want.
// Anything else — a finished execution, an unknown or closed step, an
// older attempt, another kind of wait — is a conflict with the current
// pending list.
func (s *Service) openWorkItem(ctx context.Context, tx *Tx, id, path string, attemptNo int, want string) (*execRow, *stepRun, *attempt, error) {
	e, err := s.lockExecution(ctx, tx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.Status.Terminal() {
		return nil, nil, nil, s.conflict(ctx, e, "execution %s is %s: it has no open work items", id, e.Status)
	}
	run, err := findStepRun(ctx, tx, id, path)
	if combine.ErrorCode(err) == combine.ENOTFOUND {
		return nil, nil, nil, s.conflict(ctx, e, "execution %s has no work item %q", id, path)
	} else if err != nil {
		return nil, nil, nil, err
	}
	if run.Status != runRunning {
		return nil, nil, nil, s.conflict(ctx, e, "work item %q is %s", path, run.Status)
	}
	if attemptNo != 0 && attemptNo != run.Attempts {
		return nil, nil, nil, s.conflict(ctx, e, "attempt %d of %q is not open; attempt %d is", attemptNo, path, run.Attempts)
	}
	a, err := findAttempt(ctx, tx, id, path, run.Attempts)
	if err != nil {
		return nil, nil, nil, err
	}
	if a.Status != want {
		return nil, nil, nil, s.conflict(ctx, e, "work item %q (attempt %d) does not wait for %s", path, a.Number, waitName[want])
	}
	return e, run, a, nil
}

var waitName = map[string]string{
	attWaitingInput: "a submission", attQuestions: "answers", attDocument: "a decision",
}

// SubmitDocument implements combine.ExecutionService. A person's document
// goes through the same QA gate as a worker's: a failing one is refused
// (400 with the problems), recorded as a failed attempt sent by the
// caller, and counts towards the step's MaxQAAttempts — the last allowed
// failure fails the step and the execution.
func (s *Service) SubmitDocument(ctx context.Context, id string, sub combine.Submission) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkItemRef(sub.StepPath, sub.Attempt, true); err != nil {
		return nil, err
	}
	if err := checkDocument(sub.Content); err != nil {
		return nil, err
	}
	if err := checkText(`"title"`, sub.Title, 0); err != nil {
		return nil, err
	}
	var refused []string
	var out *execRow
	err = s.withTx(ctx, func(tx *Tx) error {
		e, run, a, err := s.openWorkItem(ctx, tx, id, sub.StepPath, sub.Attempt, attWaitingInput)
		if err != nil {
			return err
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		def, _ := wf.FindStep(run.Ref.StepID)
		if def == nil {
			return s.conflict(ctx, e, "step %q is no longer in workflow %s", run.Ref.StepID, wf.ID)
		}
		probs, err := s.qaProblems(ctx, wf, def.Produces, sub.Content)
		if err != nil {
			return err
		}
		out = e
		user := "user:" + caller.UserID
		if len(probs) > 0 {
			refused = probs
			if err := s.refuse(ctx, tx, wf, e, run, a, attWaitingInput, user, probs); err != nil {
				return err
			}
		} else {
			if err := setAttempt(ctx, tx, a.ID, user, nil); err != nil {
				return err
			}
			if err := s.storeDocument(ctx, tx, wf, e, run, a, attWaitingInput, user, &sub); err != nil {
				return err
			}
		}
		return s.settle(ctx, tx, wf, e)
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		details := map[string]any{"problems": refused, "status": out.Status, "pending": s.withSchemas(ctx, out).Pending}
		msg := fmt.Sprintf("the document does not pass QA (%d problems); fix it and submit it as the next attempt", len(refused))
		if out.Status == combine.StatusFailed {
			msg = fmt.Sprintf("the document does not pass QA (%d problems) and the step has no attempts left: the execution failed", len(refused))
		}
		return nil, &combine.Error{Code: combine.EINVALID, Message: msg, Details: details}
	}
	return s.withSchemas(ctx, out), nil
}

// AnswerClarification implements combine.ExecutionService: every blocking
// question must be answered, unknown ids are refused, and the step runs
// again with all answers given so far.
func (s *Service) AnswerClarification(ctx context.Context, id string, ans combine.Answers) (*combine.Execution, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkItemRef(ans.StepPath, ans.Attempt, true); err != nil {
		return nil, err
	}
	if ans.Answers == nil {
		return nil, combine.Errorf(combine.EINVALID, `"answers" is required: {"question_id": "text"}`)
	}
	var out *execRow
	err = s.withTx(ctx, func(tx *Tx) error {
		e, run, a, err := s.openWorkItem(ctx, tx, id, ans.StepPath, ans.Attempt, attQuestions)
		if err != nil {
			return err
		}
		var qj string
		if err := tx.QueryRowContext(ctx, `SELECT questions FROM clarification_rounds WHERE execution_id = $1 AND step_path = $2 AND attempt = $3`,
			id, run.Ref.Path, a.Number).Scan(&qj); err != nil {
			return fmt.Errorf("read clarification round: %w", err)
		}
		var qs []combine.Question
		if err := json.Unmarshal([]byte(qj), &qs); err != nil {
			return fmt.Errorf("decode questions: %w", err)
		}
		clean, err := checkAnswers(qs, ans.Answers)
		if err != nil {
			return err
		}
		aj, err := jsonText(clean)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE clarification_rounds SET answers = $4, answered_by = $5, answered_at = $6
			WHERE execution_id = $1 AND step_path = $2 AND attempt = $3 AND answers IS NULL`,
			id, run.Ref.Path, a.Number, aj, caller.UserID, tx.now())
		if err != nil {
			return fmt.Errorf("record answers: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return s.conflict(ctx, e, "these questions were already answered")
		}
		if ok, err := moveAttempt(ctx, tx, a.ID, attQuestions, attAnswered); err != nil {
			return err
		} else if !ok {
			return s.conflict(ctx, e, "these questions were already answered")
		}
		fb := feedback{Questions: append(slices.Clone(a.Feedback.Questions), qs...), Answers: map[string]string{}}
		for k, v := range a.Feedback.Answers {
			fb.Answers[k] = v
		}
		for k, v := range clean {
			fb.Answers[k] = v
		}
		wf, err := s.wfs.FindWorkflow(ctx, e.WorkflowID)
		if err != nil {
			return err
		}
		out = e
		if err := s.newAttempt(ctx, tx, wf, e, run, fb, "clarification_answered"); err != nil {
			return err
		}
		return s.settle(ctx, tx, wf, e)
	})
	if err != nil {
		return nil, err
	}
	return s.withSchemas(ctx, out), nil
}

// checkAnswers validates answers against the open questions.
func checkAnswers(qs []combine.Question, answers map[string]string) (map[string]string, error) {
	known := map[string]combine.Question{}
	for _, q := range qs {
		known[q.ID] = q
	}
	clean := map[string]string{}
	var unknown []string
	for k, v := range answers {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
			continue
		}
		v = strings.TrimSpace(v)
		if err := checkText(fmt.Sprintf("the answer to %q", k), v, maxAnswerLen); err != nil {
			return nil, err
		}
		if v != "" {
			clean[k] = v
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &combine.Error{Code: combine.EINVALID, Message: "unknown question ids: " + strings.Join(unknown, ", "),
			Details: map[string]any{"unknown": unknown}}
	}
	var missing []string
	for _, q := range qs {
		if q.Blocking && clean[q.ID] == "" {
			missing = append(missing, q.ID)
		}
	}
	if len(missing) > 0 {
		return nil, &combine.Error{Code: combine.EINVALID, Message: "blocking questions need an answer: " + strings.Join(missing, ", "),
			Details: map[string]any{"missing": missing}}
	}
	return clean, nil
}
