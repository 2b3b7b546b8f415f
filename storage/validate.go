package storage

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errInvalidBatch marks a batch no store accepts, whatever its state.
var errInvalidBatch = errors.New("storage: invalid batch")

// check is what every store verifies before it writes a batch: well-formed
// ids, known request kinds, JavaScript values that are JSON. Whether an
// observation's visit and connection exist is the store's to check, as
// they may have been written by an earlier batch. Errors wrap ErrBadID for
// a malformed id.
func (b *Batch) check() error {
	for i := range b.Connections {
		if err := checkID(string(b.Connections[i].ID)); err != nil {
			return fmt.Errorf("storage: batch: connection %d: %w", i, err)
		}
	}
	for i := range b.Visits {
		if err := checkID(string(b.Visits[i].ID)); err != nil {
			return fmt.Errorf("storage: batch: visit %d: %w", i, err)
		}
	}
	for i := range b.Observations {
		o := &b.Observations[i]
		for _, id := range []ID{ID(o.ID), ID(o.VisitID), ID(o.ConnectionID)} {
			if err := checkID(string(id)); err != nil {
				return fmt.Errorf("storage: batch: observation %d: %w", i, err)
			}
		}
		if !o.Kind.Valid() {
			return fmt.Errorf("storage: batch: observation %s: request kind %q: %w", o.ID, o.Kind, errInvalidBatch)
		}
		if len(o.JS) > 0 && !json.Valid(o.JS) {
			return fmt.Errorf("storage: batch: observation %s: javascript values are not JSON: %w", o.ID, errInvalidBatch)
		}
	}
	return nil
}

func checkID(s string) error {
	_, err := ParseID(s)
	return err
}
