package pgcluster

import "testing"

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, dsn, want string
		wantErr         bool
	}{
		{name: "URL", dsn: "postgres://u@127.0.0.1:5432/db?sslmode=disable",
			want: "postgres://u@127.0.0.1:5432/db?options=-csearch_path%3Dt_1&sslmode=disable"},
		{name: "URL with options", dsn: "postgresql://u@127.0.0.1/db?options=-cwork_mem%3D8MB",
			want: "postgresql://u@127.0.0.1/db?options=-cwork_mem%3D8MB+-csearch_path%3Dt_1"},
		{name: "key=value", dsn: "host=127.0.0.1 user=u",
			want: "host=127.0.0.1 user=u options='-csearch_path=t_1'"},
		{name: "key=value with options", dsn: "host=127.0.0.1 options='-cwork_mem=8MB'", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithSearchPath(tt.dsn, "t_1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMajorVersionOrdersServerDirectories(t *testing.T) {
	tests := []struct {
		name, dir string
		want      int
	}{
		{name: "Debian 15", dir: "lib/postgresql/15/bin", want: 15},
		{name: "Debian 9", dir: "lib/postgresql/9/bin", want: 9},
		{name: "not a version", dir: "pg/bin", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := majorVersion(tt.dir); got != tt.want {
				t.Errorf("majorVersion(%s) = %d, want %d", tt.dir, got, tt.want)
			}
		})
	}
}
