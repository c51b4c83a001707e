package web

// diffRow is one row of a side-by-side diff: the value on the left (the
// older version) and on the right (the newer), and what happened to it.
type diffRow struct {
	// Op is same, changed, removed or added.
	Op    string
	Label string
	Left  string
	Right string
}

// maxDiffCells bounds the LCS table (left × right leaves); beyond it the
// diff aligns values by their path alone.
const maxDiffCells = 4 << 20

// diffLeaves compares two flattened documents: the longest common
// subsequence of (path, value) pairs stays as it is; in between, a value
// whose path is on both sides changed, others were removed or added.
func diffLeaves(a, b []leaf) []diffRow {
	var rows []diffRow
	if len(a)*len(b) > maxDiffCells {
		return diffByKey(a, b)
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var dels, ins []leaf
	flush := func() {
		rows = append(rows, pairRun(dels, ins)...)
		dels, ins = nil, nil
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			flush()
			rows = append(rows, diffRow{Op: "same", Label: a[i].Label, Left: a[i].Text, Right: b[j].Text})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			dels = append(dels, a[i])
			i++
		default:
			ins = append(ins, b[j])
			j++
		}
	}
	dels = append(dels, a[i:]...)
	ins = append(ins, b[j:]...)
	flush()
	return rows
}

// pairRun turns a run of removed and added values into rows, pairing
// values of the same path as changes.
func pairRun(dels, ins []leaf) []diffRow {
	var rows []diffRow
	used := make([]bool, len(ins))
	for _, d := range dels {
		paired := false
		for k, x := range ins {
			if !used[k] && x.Key == d.Key {
				used[k], paired = true, true
				rows = append(rows, diffRow{Op: "changed", Label: d.Label, Left: d.Text, Right: x.Text})
				break
			}
		}
		if !paired {
			rows = append(rows, diffRow{Op: "removed", Label: d.Label, Left: d.Text})
		}
	}
	for k, x := range ins {
		if !used[k] {
			rows = append(rows, diffRow{Op: "added", Label: x.Label, Right: x.Text})
		}
	}
	return rows
}

// diffByKey aligns two very large documents by path only.
func diffByKey(a, b []leaf) []diffRow {
	right := map[string]leaf{}
	for _, x := range b {
		right[x.Key] = x
	}
	seen := map[string]bool{}
	var rows []diffRow
	for _, x := range a {
		seen[x.Key] = true
		if y, ok := right[x.Key]; !ok {
			rows = append(rows, diffRow{Op: "removed", Label: x.Label, Left: x.Text})
		} else if y.Text == x.Text {
			rows = append(rows, diffRow{Op: "same", Label: x.Label, Left: x.Text, Right: y.Text})
		} else {
			rows = append(rows, diffRow{Op: "changed", Label: x.Label, Left: x.Text, Right: y.Text})
		}
	}
	for _, y := range b {
		if !seen[y.Key] {
			rows = append(rows, diffRow{Op: "added", Label: y.Label, Right: y.Text})
		}
	}
	return rows
}
