package engine

import "context"

// RunStep delivers a step job for (execution, path, attempt) as River
// would, so tests can re-deliver one.
func (s *Service) RunStep(ctx context.Context, executionID, path string, attempt int) error {
	return s.runStep(ctx, workArgs{ExecutionID: executionID, StepPath: path, Attempt: attempt}, false)
}
