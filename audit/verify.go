package audit

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// VerifyResult is the outcome of a chain verification.
type VerifyResult struct {
	OK      bool   `json:"ok"`
	Checked int64  `json:"checked"`
	HeadSeq int64  `json:"head_seq"`
	Broken  *Break `json:"broken,omitempty"`
}

// Break names the first entry where the chain does not hold.
type Break struct {
	Seq    int64  `json:"seq"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

func (r VerifyResult) String() string {
	if r.OK {
		return fmt.Sprintf("audit chain OK: %d entries verified, head at seq %d", r.Checked, r.HeadSeq)
	}
	return fmt.Sprintf("audit chain BROKEN at entry seq %d (id %s): %s (%d entries verified before it)",
		r.Broken.Seq, r.Broken.ID, r.Broken.Reason, r.Checked)
}

// Verify walks the whole chain in order and reports the first entry whose
// hash, link to its predecessor or sequence number does not hold, and
// whether the head row matches the last entry (a deleted tail).
func Verify(ctx context.Context, idb bun.IDB) (VerifyResult, error) {
	var h head
	if err := idb.NewSelect().Model(&h).Where("id = 1").Scan(ctx); err != nil {
		return VerifyResult{}, fmt.Errorf("audit: read chain head: %w", err)
	}
	res := VerifyResult{HeadSeq: h.Seq}
	prevHash := ""
	var prevSeq int64
	const page = 2000
	for {
		var batch []Entry
		if err := idb.NewSelect().Model(&batch).Where("seq > ?", prevSeq).Order("seq").Limit(page).Scan(ctx); err != nil {
			return res, fmt.Errorf("audit: read entries after %d: %w", prevSeq, err)
		}
		for i := range batch {
			e := &batch[i]
			switch {
			case e.Seq != prevSeq+1:
				res.Broken = &Break{Seq: e.Seq, ID: e.ID, Reason: fmt.Sprintf("entries %d to %d are missing", prevSeq+1, e.Seq-1)}
			case e.PrevHash != prevHash:
				res.Broken = &Break{Seq: e.Seq, ID: e.ID, Reason: "previous-hash link does not match the entry before it"}
			case e.ComputeHash() != e.Hash:
				res.Broken = &Break{Seq: e.Seq, ID: e.ID, Reason: "content does not match its hash (entry was modified)"}
			}
			if res.Broken != nil {
				return res, nil
			}
			prevSeq, prevHash = e.Seq, e.Hash
			res.Checked++
		}
		if len(batch) < page {
			break
		}
	}
	if prevSeq != h.Seq || prevHash != h.Hash {
		res.Broken = &Break{Seq: prevSeq + 1, Reason: fmt.Sprintf("chain ends at seq %d but the head records seq %d (entries deleted from the end)", prevSeq, h.Seq)}
		return res, nil
	}
	res.OK = true
	return res, nil
}
