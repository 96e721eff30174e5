package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)

	before := time.Now().Add(-time.Minute)
	ann, err := s.CreateUser(ctx, "  Ann@Example.COM ", "admin", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	if ann.Email != "ann@example.com" || ann.Role != "admin" || ann.PasswordHash != "hash-a" || ann.Disabled || ann.ID == 0 {
		t.Fatalf("created %+v", ann)
	}
	if ann.CreatedAt.Before(before) || ann.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("created_at %v is not now (time zone bug?)", ann.CreatedAt)
	}
	if _, err := s.CreateUser(ctx, "bob@example.com", "viewer", "hash-b"); err != nil {
		t.Fatal(err)
	}

	createTests := []struct {
		name, email, role string
		want              error
	}{
		{"same email", "ann@example.com", "viewer", db.ErrEmailTaken},
		{"same email other case", "ANN@example.com", "viewer", db.ErrEmailTaken},
		{"unknown role", "carol@example.com", "root", db.ErrInvalidRole},
		{"empty role", "carol@example.com", "", db.ErrInvalidRole},
	}
	for _, tt := range createTests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tt.email, tt.role, "h")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	lookupTests := []struct {
		name, email string
		wantID      int64
		wantErr     error
	}{
		{"exact", "ann@example.com", ann.ID, nil},
		{"other case", "ANN@EXAMPLE.com", ann.ID, nil},
		{"spaces", " ann@example.com", ann.ID, nil},
		{"unknown", "nobody@example.com", 0, db.ErrNotFound},
	}
	for _, tt := range lookupTests {
		t.Run("by email/"+tt.name, func(t *testing.T) {
			u, err := s.UserByEmail(ctx, tt.email)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if u.ID != tt.wantID {
				t.Fatalf("id = %d, want %d", u.ID, tt.wantID)
			}
		})
	}

	if _, err := s.UserByID(ctx, 999999); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("UserByID(unknown): %v", err)
	}

	if err := s.SetUserRole(ctx, ann.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, ann.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserPassword(ctx, ann.ID, "hash-a2"); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != "operator" || !got.Disabled || got.PasswordHash != "hash-a2" || !got.UpdatedAt.After(ann.UpdatedAt) {
		t.Fatalf("after updates: %+v (was %+v)", got, ann)
	}

	updateTests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"role of unknown user", func() error { return s.SetUserRole(ctx, 999999, "viewer") }, db.ErrNotFound},
		{"invalid role", func() error { return s.SetUserRole(ctx, ann.ID, "superuser") }, db.ErrInvalidRole},
		{"disable unknown user", func() error { return s.SetUserDisabled(ctx, 999999, true) }, db.ErrNotFound},
		{"password of unknown user", func() error { return s.SetUserPassword(ctx, 999999, "h") }, db.ErrNotFound},
	}
	for _, tt := range updateTests {
		t.Run("update/"+tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Email != "ann@example.com" || users[1].Email != "bob@example.com" {
		t.Fatalf("ListUsers = %+v", users)
	}
	n, err := s.CountUsers(ctx)
	if err != nil || n != 2 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
}
