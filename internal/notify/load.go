package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
)

// cycleRow is the part of a cycles row the report reads.
type cycleRow struct {
	Trigger      string
	Status       string
	DryRun       bool
	StartedAt    time.Time
	FinishedAt   *time.Time
	StepResults  map[string]json.RawMessage
	StepTimings  map[string]json.RawMessage
	KPIs         json.RawMessage
	HealthScore  *float64
	FailedStep   *string
	ErrorType    *string
	ErrorMessage *string
}

// ErrNoCycle is returned when a cycle id names no cycles row.
var ErrNoCycle = errors.New("no such cycle")

func readCycle(ctx context.Context, db postgres.DBTX, id string) (*cycleRow, error) {
	var r cycleRow
	var results, timings []byte
	err := db.QueryRow(ctx, `SELECT trigger, status, dry_run, started_at, finished_at, step_results, step_timings, kpis,
		health_score::float8, failed_step, error_type, error_message FROM cycles WHERE id = $1`, id).
		Scan(&r.Trigger, &r.Status, &r.DryRun, &r.StartedAt, &r.FinishedAt, &results, &timings, &r.KPIs,
			&r.HealthScore, &r.FailedStep, &r.ErrorType, &r.ErrorMessage)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("cycle %s: %w", id, ErrNoCycle)
	}
	if err != nil {
		return nil, fmt.Errorf("reading cycle %s: %w", id, err)
	}
	if err := json.Unmarshal(results, &r.StepResults); err != nil {
		r.StepResults = nil // another step's malformed result must not stop the e-mail
	}
	if err := json.Unmarshal(timings, &r.StepTimings); err != nil {
		r.StepTimings = nil
	}
	return &r, nil
}

// StateFromCycle rebuilds the state a cycle's Notify step would have
// received: its results and, for a failed cycle, the error the Catch path
// places at $.error.
func StateFromCycle(ctx context.Context, db postgres.DBTX, id string) (cycle.State, string, error) {
	r, err := readCycle(ctx, db, id)
	if err != nil {
		return cycle.State{}, "", err
	}
	st := cycle.State{CycleID: id, Trigger: r.Trigger, DryRun: r.DryRun, Results: r.StepResults}
	if r.Status == "failed" {
		st.Error = &cycle.StepError{Error: deref(r.ErrorType), Cause: deref(r.ErrorMessage)}
		if st.Error.Error == "" {
			st.Error.Error = "CycleFailed"
		}
	}
	return st, r.Status, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// cycleStamp finds the time in a cycle id such as schedule-20261129T0200.
var cycleStamp = regexp.MustCompile(`(\d{8}T\d{4})$`)

// loadReport reads what the messages say about the state's cycle: its
// cycles row when there is one, the state's results (newer than the row's),
// the fragrances it added and the history before it. exists is false when
// the cycles row is missing; the report then comes from the state alone.
func (n *Notifier) loadReport(ctx context.Context, st cycle.State) (rep *Report, exists bool, err error) {
	now := n.now()
	row, err := readCycle(ctx, n.DB, st.CycleID)
	switch {
	case errors.Is(err, ErrNoCycle):
		row = &cycleRow{Trigger: st.Trigger, StartedAt: now}
		if m := cycleStamp.FindString(st.CycleID); m != "" {
			if t, err := time.Parse("20060102T1504", m); err == nil && !t.After(now) {
				row.StartedAt = t
			}
		}
		n.logger().WarnContext(ctx, "the cycle has no cycles row: reporting from the state alone", "cycle_id", st.CycleID)
	case err != nil:
		return nil, false, err
	default:
		exists = true
	}

	results := map[string]json.RawMessage{}
	for k, v := range row.StepResults {
		results[k] = v
	}
	for k, v := range st.Results {
		if len(v) > 0 && string(v) != "null" {
			results[k] = v
		}
	}
	rep = &Report{CycleID: st.CycleID, Trigger: row.Trigger, Status: "succeeded", DryRun: st.DryRun || row.DryRun,
		StartedAt: row.StartedAt, FinishedAt: row.FinishedAt}
	if rep.Trigger == "" {
		rep.Trigger = st.Trigger
	}
	end := now
	if row.FinishedAt != nil {
		end = *row.FinishedAt
	}
	rep.Duration = end.Sub(row.StartedAt)

	var metrics struct {
		KPIs        json.RawMessage `json:"kpis"`
		HealthScore *float64        `json:"health_score"`
		Components  json.RawMessage `json:"components"`
	}
	_ = json.Unmarshal(results[cycle.StepMetrics], &metrics) // missing or malformed: n/a
	kpis := row.KPIs
	if len(kpis) == 0 || string(kpis) == "null" {
		kpis = metrics.KPIs
	}
	rep.KPIs = decodeKPIs(kpis)
	rep.HealthScore = row.HealthScore
	if metrics.HealthScore != nil {
		rep.HealthScore = metrics.HealthScore
	}
	rep.Components = decodeComponents(metrics.Components)

	var detect struct {
		CandidateCount *int            `json:"candidate_count"`
		Candidates     []candidate     `json:"candidates"`
		Crawl          json.RawMessage `json:"crawl"`
		Warnings       []string        `json:"warnings"`
	}
	_ = json.Unmarshal(results[cycle.StepDetect], &detect)
	rep.Candidates = detect.CandidateCount
	rep.Warnings = detect.Warnings
	rep.Crawl = figures(detect.Crawl, "requests", "not_modified", "status_429", "retries", "robots_blocked", "errors", "effective_rate_per_min", "circuit_open", "degraded")
	rep.Import = importFigures(results[cycle.StepImport])
	for _, step := range []string{cycle.StepDetect, cycle.StepImport, cycle.StepMaintain, cycle.StepMetrics, cycle.StepNotify} {
		var t struct {
			Seconds *float64 `json:"seconds"`
		}
		if json.Unmarshal(row.StepTimings[step], &t) == nil && t.Seconds != nil {
			rep.StepTimings = append(rep.StepTimings, StepTiming{Step: step, Seconds: *t.Seconds})
		}
	}

	if err := n.loadFragrances(ctx, rep, detect.Candidates); err != nil {
		return nil, false, err
	}
	if err := n.loadHistory(ctx, rep, exists, now); err != nil {
		return nil, false, err
	}

	if st.Error != nil {
		rep.Status = "failed"
		rep.Failure = failureOf(st, row)
	}
	rep.ExecutionARN, rep.ConsoleURL = consoleLink(n.StateMachineARN, st.CycleID)
	return rep, exists, nil
}

// candidate is one entry of results.detect.candidates.
type candidate struct {
	Source   string   `json:"source"`
	SourceID string   `json:"source_id"`
	Brand    string   `json:"brand"`
	Name     string   `json:"name"`
	Reason   string   `json:"reason"`
	Score    *float64 `json:"score"`
}

func candidateKey(brand, name string) string {
	return strings.ToLower(strings.Join(strings.Fields(brand), " ")) + "\x00" + strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// loadFragrances lists the fragrances the cycle added, with the reason
// detection gave for each when the candidates travelled inline. A
// candidate is matched by its source identity (source_identities): the
// catalog's brand and name are normalised (Dior becomes Christian Dior, a
// name loses its concentration), so they seldom equal the candidate's. A
// candidate without an identity (an older result) is matched on its brand
// and name as they are.
func (n *Notifier) loadFragrances(ctx context.Context, rep *Report, candidates []candidate) error {
	reasons := make(map[string]candidate, len(candidates))
	var sources, ids []string
	var byIdentity []candidate
	for _, c := range candidates {
		reasons[candidateKey(c.Brand, c.Name)] = c
		if c.Source != "" && c.SourceID != "" {
			sources, ids = append(sources, c.Source), append(ids, c.SourceID)
			byIdentity = append(byIdentity, c)
		}
	}
	// The page first, then one identity probe per listed fragrance (by
	// source_identities_fragrance): the first candidate, in detection's
	// order, whose identity the fragrance holds.
	rows, err := n.DB.Query(ctx, `SELECT l.brand, l.name, l.year, l.concentration, l.total,
			(SELECT min(c.i) FROM source_identities si
				JOIN unnest($3::text[], $4::text[]) WITH ORDINALITY AS c(source, source_id, i)
					ON c.source = si.source AND c.source_id = si.source_id
				WHERE si.fragrance_id = l.id)
		FROM (SELECT f.id, b.name AS brand, f.name, f.year, coalesce(f.concentration, '') AS concentration, count(*) OVER () AS total
			FROM fragrances f JOIN brands b ON b.id = f.brand_id
			WHERE f.created_cycle_id = $1 ORDER BY b.name, f.name, f.id LIMIT $2) l
		ORDER BY l.brand, l.name, l.id`, rep.CycleID, MaxListed, sources, ids)
	if err != nil {
		return fmt.Errorf("listing the cycle's new fragrances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f Fragrance
		var year *int16
		var match *int64
		if err := rows.Scan(&f.Brand, &f.Name, &year, &f.Concentration, &rep.NewFragranceCount, &match); err != nil {
			return fmt.Errorf("listing the cycle's new fragrances: %w", err)
		}
		if year != nil {
			y := int(*year)
			f.Year = &y
		}
		if match != nil && *match >= 1 && int(*match) <= len(byIdentity) {
			c := byIdentity[*match-1]
			f.Reason, f.Score = c.Reason, c.Score
		} else if c, ok := reasons[candidateKey(f.Brand, f.Name)]; ok {
			f.Reason, f.Score = c.Reason, c.Score
		}
		rep.NewFragrances = append(rep.NewFragrances, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the cycle's new fragrances: %w", err)
	}
	return nil
}

// loadHistory reads the health score and catalog size of the last
// HistoryLength cycles up to this one. A cycle's catalog size is the
// metrics step's catalog_size when it stored one, else the fragrances
// created before the cycle's end (fragrances removed since are not counted).
func (n *Notifier) loadHistory(ctx context.Context, rep *Report, exists bool, now time.Time) error {
	rows, err := n.DB.Query(ctx, `SELECT id, started_at, status, health_score::float8,
			CASE WHEN jsonb_typeof(step_results -> 'metrics' -> 'catalog_size') = 'number'
				THEN (step_results -> 'metrics' ->> 'catalog_size')::numeric::bigint
			WHEN jsonb_typeof(kpis -> 'catalog_size' -> 'value') = 'number'
				THEN (kpis -> 'catalog_size' ->> 'value')::numeric::bigint END,
			coalesce(finished_at, CASE WHEN id = $1 THEN $3 ELSE started_at END)
		FROM cycles WHERE started_at <= $2 ORDER BY started_at DESC, id DESC LIMIT $4`,
		rep.CycleID, rep.StartedAt, now, HistoryLength)
	if err != nil {
		return fmt.Errorf("reading the cycle history: %w", err)
	}
	var points []Point
	var asOf []time.Time
	for rows.Next() {
		var p Point
		var t time.Time
		if err := rows.Scan(&p.CycleID, &p.StartedAt, &p.Status, &p.HealthScore, &p.CatalogSize, &t); err != nil {
			rows.Close()
			return fmt.Errorf("reading the cycle history: %w", err)
		}
		points = append(points, p)
		asOf = append(asOf, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the cycle history: %w", err)
	}
	if !exists {
		points = append([]Point{{CycleID: rep.CycleID, StartedAt: rep.StartedAt}}, points...)
		asOf = append([]time.Time{now}, asOf...)
		if len(points) > HistoryLength {
			points, asOf = points[:HistoryLength], asOf[:HistoryLength]
		}
	}
	var missing []time.Time
	for i, p := range points {
		if p.CatalogSize == nil {
			missing = append(missing, asOf[i])
		}
	}
	sizes, err := catalogSizes(ctx, n.DB, missing)
	if err != nil {
		return err
	}
	for i := range points {
		if points[i].CatalogSize == nil {
			if c, ok := sizes[asOf[i].UTC()]; ok {
				points[i].CatalogSize = &c
			}
		}
		if points[i].CycleID == rep.CycleID {
			// This cycle's figures are the freshest: the metrics result may
			// not have reached the row yet.
			points[i].Status = rep.Status
			if rep.HealthScore != nil {
				points[i].HealthScore = rep.HealthScore
			}
			rep.CatalogSize = points[i].CatalogSize
		}
	}
	for i, j := 0, len(points)-1; i < j; i, j = i+1, j-1 {
		points[i], points[j] = points[j], points[i]
	}
	rep.History = points
	return nil
}

// catalogSizes counts the fragrances created before each time in one
// index scan over the fragrances created since the earliest of them: the
// size at t is today's count less those created at or after t.
func catalogSizes(ctx context.Context, db postgres.DBTX, times []time.Time) (map[time.Time]int64, error) {
	sizes := map[time.Time]int64{}
	if len(times) == 0 {
		return sizes, nil
	}
	sorted := make([]time.Time, 0, len(times))
	seen := map[time.Time]bool{}
	for _, t := range times {
		if t = t.UTC(); !seen[t] {
			seen[t] = true
			sorted = append(sorted, t)
		}
	}
	slices.SortFunc(sorted, time.Time.Compare)
	var total int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM fragrances`).Scan(&total); err != nil {
		return nil, fmt.Errorf("counting the catalog: %w", err)
	}
	// width_bucket gives i when sorted[i-1] <= created_at < sorted[i] (1-based).
	rows, err := db.Query(ctx, `SELECT width_bucket(created_at, $1::timestamptz[]), count(*) FROM fragrances
		WHERE created_at >= $2 GROUP BY 1`, sorted, sorted[0])
	if err != nil {
		return nil, fmt.Errorf("counting the catalog over time: %w", err)
	}
	newer := make([]int64, len(sorted)+2) // newer[i]: created in bucket i
	for rows.Next() {
		var b int
		var c int64
		if err := rows.Scan(&b, &c); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting the catalog over time: %w", err)
		}
		if b >= 0 && b < len(newer) {
			newer[b] = c
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting the catalog over time: %w", err)
	}
	// Created at or after sorted[i-1] = buckets i..n.
	var since int64
	for i := len(sorted); i >= 1; i-- {
		since += newer[i]
		sizes[sorted[i-1]] = total - since
	}
	return sizes, nil
}

// failureOf describes the Catch path's error: the failed step from the
// cycles row, or else the first step without a result; the type and
// message from the Lambda error in Cause when it is one.
func failureOf(st cycle.State, row *cycleRow) *Failure {
	f := &Failure{}
	f.Type, f.Message = describe(st.Error)
	if f.Message == "" && row.ErrorMessage != nil {
		f.Message = *row.ErrorMessage
	}
	if f.Type == "" {
		f.Type = deref(row.ErrorType)
	}
	f.Message = clip(f.Message)
	if st.RecordError != nil {
		typ, msg := describe(st.RecordError)
		f.NotRecorded = clip(strings.TrimSpace(typ + ": " + msg))
	}
	if row.FailedStep != nil && *row.FailedStep != "" && *row.FailedStep != "execution" {
		f.Step = *row.FailedStep
		return f
	}
	if row.FailedStep != nil && *row.FailedStep == "execution" && strings.HasPrefix(st.Error.Error, "Execution.") {
		f.Step = *row.FailedStep
		return f
	}
	f.StepInferred = true
	f.Step = inferStep(st)
	return f
}

// importFigures are the Import step's counts for the weekly report: the
// result nests outcomes under "counts" and embedding under "embedding"
// (importer.CycleResult).
func importFigures(raw json.RawMessage) []Figure {
	var res struct {
		Candidates       *float64           `json:"candidates"`
		Fetched          *float64           `json:"fetched"`
		FetchErrorsCount *float64           `json:"fetch_errors_count"`
		Counts           map[string]float64 `json:"counts"`
		NewFragrances    *float64           `json:"new_fragrances"`
		Embedding        *struct {
			Embedded float64 `json:"embedded"`
			Failed   float64 `json:"failed"`
			Pending  float64 `json:"pending"`
		} `json:"embedding"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &res) != nil {
		return nil
	}
	var out []Figure
	add := func(name string, v *float64) {
		if v != nil {
			out = append(out, Figure{Name: name, Value: formatNumber(*v)})
		}
	}
	add("candidates", res.Candidates)
	add("fetched", res.Fetched)
	if res.FetchErrorsCount != nil || res.Candidates != nil {
		n := 0.0
		if res.FetchErrorsCount != nil {
			n = *res.FetchErrorsCount
		}
		add("fetch_errors", &n)
	}
	for _, k := range []string{"inserted", "updated", "unchanged", "duplicate", "review", "rejected"} {
		if v, ok := res.Counts[k]; ok {
			add(k, &v)
		}
	}
	add("new_fragrances", res.NewFragrances)
	if e := res.Embedding; e != nil {
		add("embedded", &e.Embedded)
		add("embedding_failed", &e.Failed)
		add("pending_embeddings", &e.Pending)
	}
	return out
}

// inferStep is the first step of the cycle without a result: where a
// failure no record names happened.
func inferStep(st cycle.State) string {
	for _, step := range []string{cycle.StepDetect, cycle.StepImport, cycle.StepMaintain, cycle.StepMetrics, cycle.StepNotify} {
		if raw := st.Results[step]; len(raw) == 0 || string(raw) == "null" {
			return step
		}
	}
	return "unknown"
}

// describe reads a Catch's {"Error", "Cause"}: the type and message of
// the Lambda error in Cause when it is one, else Error and Cause as they
// are.
func describe(se *cycle.StepError) (typ, msg string) {
	if se == nil {
		return "", ""
	}
	typ, msg = se.Error, strings.TrimSpace(se.Cause)
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal([]byte(se.Cause), &lambdaErr) == nil && (lambdaErr.ErrorMessage != "" || lambdaErr.ErrorType != "") {
		msg = lambdaErr.ErrorMessage
		if lambdaErr.ErrorType != "" && (typ == "" || strings.HasPrefix(typ, "States.")) {
			typ = lambdaErr.ErrorType
		}
	}
	return typ, redact.Secrets(msg)
}

// clip keeps an error message to what an e-mail shows.
func clip(s string) string {
	const maxMessage = 2000
	if r := []rune(s); len(r) > maxMessage {
		return string(r[:maxMessage]) + "…"
	}
	return s
}

// consoleLink derives the cycle's execution ARN from the state machine's
// ARN (the execution is named by the cycle id) and the Step Functions
// console page showing it. Both are empty outside AWS.
func consoleLink(stateMachineARN, cycleID string) (arn, link string) {
	parts := strings.Split(stateMachineARN, ":")
	// arn:aws:states:<region>:<account>:stateMachine:<name>
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[3] == "" {
		return "", ""
	}
	region := parts[3]
	arn = strings.Join([]string{"arn", parts[1], "states", region, parts[4], "execution", parts[6], cycleID}, ":")
	domain := "console.aws.amazon.com"
	if strings.HasPrefix(parts[1], "aws-cn") {
		domain = "console.amazonaws.cn"
	}
	link = fmt.Sprintf("https://%s.%s/states/home?region=%s#/v2/executions/details/%s", region, domain, url.QueryEscape(region), url.PathEscape(arn))
	return arn, link
}
