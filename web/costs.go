package web

import (
	"fmt"
	"net/http"

	"github.com/thecombine/combine"
)

// CostSource is what the execution page shows LLM costs from: when
// Options.Costs is set, the page has a cost table. LedgerCosts makes one
// of the cost ledger.
type CostSource interface {
	// ExecutionCosts returns the rows to show for one execution (nil
	// when nothing was spent).
	ExecutionCosts(r *http.Request, executionID string) ([]CostRow, error)
}

// CostRow is one line of an execution's cost table.
type CostRow struct {
	Label string
	// StepPath is the step the row sums ("" for a total): the page then
	// names it as its progress table does.
	StepPath     string
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	// Cost is formatted by the source (currency and precision are its own).
	Cost string
}

// LedgerCosts shows the cost ledger (combine.CostService): a row per
// step, in the order its first call was made, and a total.
func LedgerCosts(svc combine.CostService) CostSource { return ledgerCosts{svc} }

type ledgerCosts struct{ svc combine.CostService }

func (l ledgerCosts) ExecutionCosts(r *http.Request, executionID string) ([]CostRow, error) {
	c, err := l.svc.ExecutionCosts(r.Context(), executionID)
	if err != nil {
		return nil, err
	}
	if len(c.Calls) == 0 {
		return nil, nil
	}
	type sum struct {
		row      CostRow
		usd      float64
		unpriced int
	}
	var steps []*sum
	byPath := map[string]*sum{}
	total := &sum{row: CostRow{Label: "Total"}}
	for _, call := range c.Calls {
		s := byPath[call.StepPath]
		if s == nil {
			s = &sum{row: CostRow{Label: call.StepPath, StepPath: call.StepPath}}
			byPath[call.StepPath] = s
			steps = append(steps, s)
		}
		for _, x := range []*sum{s, total} {
			x.row.InputTokens += call.InputTokens
			x.row.OutputTokens += call.OutputTokens
			x.row.CachedTokens += call.CacheReadTokens
			x.usd += call.CostUSD
			// A model missing from the price table costs 0 in the
			// ledger: say so rather than show a cost that is too low.
			if !call.Priced && call.Status == combine.CallCompleted {
				x.unpriced++
			}
		}
	}
	rows := make([]CostRow, 0, len(steps)+1)
	for _, s := range append(steps, total) {
		s.row.Cost = formatUSD(s.usd, s.unpriced)
		rows = append(rows, s.row)
	}
	return rows, nil
}

// formatUSD shows a cost in US dollars to a hundredth of a cent (LLM
// calls often cost less than a cent), noting calls without a price.
func formatUSD(usd float64, unpriced int) string {
	s := fmt.Sprintf("$%.4f", usd)
	switch {
	case unpriced == 1:
		s += " and 1 call of a model without a price"
	case unpriced > 1:
		s += fmt.Sprintf(" and %d calls of a model without a price", unpriced)
	}
	return s
}
