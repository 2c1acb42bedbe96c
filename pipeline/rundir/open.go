package rundir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Files of a run folder that say who may use it.
const (
	// InputsFile records the run's Inputs: a rerun with other inputs
	// never reuses the folder.
	InputsFile = "inputs.json"
	// LockFile is locked (flock) by the process using the run folder,
	// and names it.
	LockFile = ".lock"
)

// Inputs are what a run reads besides its config: its identity is the
// effective config and these. A run whose inputs changed (images added,
// removed, edited or moved between splits, a class added, a backbone
// re-exported) never reuses the folder of the old ones.
type Inputs struct {
	// Manifest is the hex SHA-256 of the manifest.csv the run writes:
	// every image's path, label, class, split and content hash, in split
	// order.
	Manifest string `json:"manifest_sha256"`
	// Backbones are the transfer models' backbone fingerprints by model
	// name (see backbone.Fingerprint and the weights' hash).
	Backbones map[string]string `json:"backbones,omitempty"`
}

// Hash is the hex SHA-256 of in.
func (in Inputs) Hash() string {
	b, _ := json.Marshal(in) // map keys are sorted
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Run is a run folder held by this process: its lock is released by Close.
type Run struct {
	Dir string
	// Removed lists the temporary files and folders that a killed process
	// had left in the folder, removed when it was opened.
	Removed []string
	// Adopted is true when the folder was written before run folders
	// recorded their inputs and is used because its manifest matches.
	Adopted bool
	lock    *fsutil.Lock
}

// Close releases the run folder.
func (r *Run) Close() error { return r.lock.Unlock() }

// BusyError says that another process is using the run folder.
type BusyError struct {
	Dir   string
	Owner string // the holder's pid, host and command line; "" if unknown
}

func (e *BusyError) Error() string {
	owner := e.Owner
	if owner == "" {
		owner = "another process (it has not written its pid yet)"
	}
	return fmt.Sprintf("run folder %s is in use by %s: wait for it to finish (a rerun then reuses its results), or stop it and rerun to resume", e.Dir, owner)
}

// Open finds, locks and claims the run folder of config cfg (effective
// config effective, as For returns it) with inputs in. The folder is For's
// <name>-<config hash> when it is new or holds the same inputs (a rerun
// resumes or reuses it); with other inputs it is
// <name>-<config hash>-<8 hex digits of the inputs' hash>, so both results
// are kept and neither is mistaken for the other. A folder written before
// inputs were recorded is used when its manifest.csv matches (its backbones
// were not recorded and are taken as they are now).
//
// Another process using the folder gives a *BusyError at once. Temporary
// files that a killed process left in the folder are removed (Run.Removed).
func Open(cfg *config.Config, effective []byte, in Inputs) (*Run, error) {
	base, _, err := For(cfg)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{base, base + "-" + in.Hash()[:8]} {
		r, err := open(dir, effective, in)
		if errors.Is(err, errOther) {
			continue
		}
		return r, err
	}
	return nil, fmt.Errorf("run folders %s and %s-%s both hold other inputs; delete them to start fresh", base, base, in.Hash()[:8])
}

// errOther marks a run folder that holds other inputs.
var errOther = errors.New("other inputs")

func open(dir string, effective []byte, in Inputs) (*Run, error) {
	// A folder recorded for other inputs is passed over without taking
	// its lock: a run on them may be going on.
	if old, err := readInputs(dir); err != nil {
		return nil, err
	} else if old != nil && !same(*old, in) {
		return nil, errOther
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	lock, err := fsutil.TryLock(filepath.Join(dir, LockFile))
	var le *fsutil.LockedError
	if errors.As(err, &le) {
		return nil, &BusyError{Dir: dir, Owner: le.Owner}
	}
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	r := &Run{Dir: dir, lock: lock}
	if err := r.claim(effective, in); err != nil {
		lock.Unlock()
		return nil, err
	}
	if r.Removed, err = fsutil.RemoveTemp(dir, 0); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("run folder %s: removing temporary files: %w", dir, err)
	}
	return r, nil
}

// claim, under the lock, writes the config and inputs of a new folder, or
// checks those of an existing one.
func (r *Run) claim(effective []byte, in Inputs) error {
	cfgPath := filepath.Join(r.Dir, ConfigFile)
	old, err := os.ReadFile(cfgPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := fsutil.WriteFile(filepath.Join(r.Dir, InputsFile), inputsJSON(in)); err != nil {
			return err
		}
		return fsutil.WriteFile(cfgPath, effective)
	case err != nil:
		return err
	case string(old) != string(effective):
		return fmt.Errorf("run folder %s holds a different config (%s); delete it or change the run name", r.Dir, cfgPath)
	}
	rec, err := readInputs(r.Dir)
	switch {
	case err != nil:
		return err
	case rec != nil && same(*rec, in):
		return nil
	case rec != nil:
		return errOther // written between the first look and the lock
	}
	// A folder from before inputs were recorded: its manifest says.
	m, err := os.ReadFile(filepath.Join(r.Dir, ManifestFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil {
		if h := sha256.Sum256(m); hex.EncodeToString(h[:]) != in.Manifest {
			return errOther
		}
		r.Adopted = true
	}
	return fsutil.WriteFile(filepath.Join(r.Dir, InputsFile), inputsJSON(in))
}

// same reports whether two inputs are the same.
func same(a, b Inputs) bool {
	return a.Manifest == b.Manifest && mapsEqual(a.Backbones, b.Backbones)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func inputsJSON(in Inputs) []byte {
	b, _ := json.MarshalIndent(in, "", "  ")
	return append(b, '\n')
}

// readInputs reads dir's InputsFile; nil without one.
func readInputs(dir string) (*Inputs, error) {
	path := filepath.Join(dir, InputsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	var in Inputs
	if err := json.Unmarshal(b, &in); err != nil || in.Manifest == "" {
		return nil, fmt.Errorf("run folder: %s is not a record of a run's inputs: delete the run folder to start fresh", path)
	}
	return &in, nil
}

// Is reports whether dir looks like a run folder: it holds a config.yaml
// and a manifest.csv or inputs.json.
func Is(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		return false
	}
	for _, f := range []string{ManifestFile, InputsFile, MetricsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// Holds reports whether dir is a runs folder: it holds a run folder.
func Holds(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
		return e.IsDir() && !strings.HasPrefix(e.Name(), ".") && Is(filepath.Join(dir, e.Name()))
	})
}
