package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestSavedViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	ann, err := s.CreateUser(ctx, "ann@example.com", "viewer", "h")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob@example.com", "viewer", "h")
	if err != nil {
		t.Fatal(err)
	}

	v, err := s.CreateSavedView(ctx, ann.ID, "Low on time", "sort=time_left&dir=asc&time_left=60")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID == 0 || v.UserID != ann.ID || v.Name != "Low on time" || v.Query != "sort=time_left&dir=asc&time_left=60" || v.CreatedAt.IsZero() {
		t.Fatalf("created %+v", v)
	}
	if _, err := s.CreateSavedView(ctx, ann.ID, "low ON time", "q=x"); !errors.Is(err, db.ErrViewNameTaken) {
		t.Fatalf("same name other case: err = %v, want ErrViewNameTaken", err)
	}
	// Another user may use the same name.
	if _, err := s.CreateSavedView(ctx, bob.ID, "Low on time", "q=y"); err != nil {
		t.Fatalf("same name, other user: %v", err)
	}
	if _, err := s.CreateSavedView(ctx, ann.ID, "", "q=x"); err == nil {
		t.Fatal("an empty name was stored")
	}
	if _, err := s.CreateSavedView(ctx, ann.ID, "Alpha", ""); err != nil {
		t.Fatal(err)
	}

	list, err := s.SavedViews(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "Alpha" || list[1].Name != "Low on time" {
		t.Fatalf("ann's views: %+v", list)
	}

	// Bob cannot delete Ann's view; Ann can, once.
	if err := s.DeleteSavedView(ctx, bob.ID, v.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("delete another's view: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSavedView(ctx, ann.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSavedView(ctx, ann.ID, v.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("delete twice: err = %v, want ErrNotFound", err)
	}

	// At most MaxSavedViews per user.
	for i := len(list) - 1; i < db.MaxSavedViews; i++ {
		if _, err := s.CreateSavedView(ctx, ann.ID, fmt.Sprintf("v%d", i), "q=z"); err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
	}
	if _, err := s.CreateSavedView(ctx, ann.ID, "one too many", "q=z"); !errors.Is(err, db.ErrTooManyViews) {
		t.Fatalf("past the limit: err = %v, want ErrTooManyViews", err)
	}
}
