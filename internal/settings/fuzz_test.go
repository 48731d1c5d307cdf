package settings

import (
	"context"
	"io/fs"
	"testing"

	"github.com/scentmatch/pipeline/config"
)

// memOverrides serves one override file from memory.
type memOverrides struct {
	name string
	data []byte
}

func (m memOverrides) Read(_ context.Context, name string) ([]byte, string, error) {
	if name != m.name {
		return nil, "", fs.ErrNotExist
	}
	return m.data, "fuzz/" + name, nil
}
func (m memOverrides) Extra(context.Context) ([]string, error) { return nil, nil }
func (m memOverrides) String() string                          { return "fuzz" }

// FuzzLoad feeds arbitrary bytes as an override of each configuration
// file. Check must never panic or hang, every problem names its file and
// rule, and a configuration with no error-level problem loads.
func FuzzLoad(f *testing.F) {
	for i, name := range Files {
		def, err := config.Files.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), def)
	}
	f.Add(uint8(0), []byte(`{"cycle": {"max_fragrances": -1}}`))
	f.Add(uint8(0), []byte(`{"schedule": {"expression": "cron(0/99999999999999999 2 ? * SUN *)", "timezone": "Mars/Olympus"}}`))
	f.Add(uint8(1), []byte(`{"x": {"base_url": "ftp://nope"}}`))
	f.Add(uint8(2), []byte(`{"brands": [{"name": ""}]}`))
	f.Add(uint8(0), []byte(`[1, 2`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := Files[int(which)%len(Files)]
		cfg, problems, err := Check(context.Background(), memOverrides{name: name, data: data})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		for _, p := range problems {
			if p.File == "" || p.Rule == "" || p.Message == "" {
				t.Fatalf("problem without file, rule or message: %+v", p)
			}
		}
		if len(problems.Errors()) == 0 && cfg == nil {
			t.Fatal("no errors but no configuration")
		}
	})
}
