package health

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// SeverityWarn marks a healthy component that needs an operator's look.
const SeverityWarn = "warn"

// Detected connection kinds.
const (
	DetectedDirect      = "direct"
	DetectedTransaction = "transaction"
	DetectedUnknown     = "unknown"
)

// Pooling is how the database is reached: the mode in use (what
// SCENTMATCH_DB_POOLING declares), what the server looks like, and why.
type Pooling struct {
	// Mode is the connection mode in use: "direct" or "transaction".
	Mode postgres.Pooling `json:"mode"`
	// Detected is what the signals say: "direct", "transaction" (a
	// transaction pooler) or "unknown" (no signal either way).
	Detected string `json:"detected"`
	// Signals are the observations, in words (no password, no full URL).
	Signals []string `json:"signals"`
	// Warning says what to set when Mode and Detected disagree.
	Warning string `json:"warning,omitempty"`
}

// HostSignal is what a database host and port alone say about a pooler.
type HostSignal struct {
	// Pooler names it ("RDS Proxy", "Supavisor"); empty: no rule matched.
	Pooler string
	// Transaction is true for a transaction pooler, false for a pooler
	// in session mode (direct is the right mode there).
	Transaction bool
	Detail      string
}

// SupavisorTransactionPort is Supabase's transaction-mode pooler port.
const SupavisorTransactionPort = 6543

// HostRule applies the host-name rules: an RDS Proxy endpoint
// (<name>.proxy-<id>.<region>.rds.amazonaws.com) multiplexes transactions;
// Supabase's pooler (*.pooler.supabase.com) is Supavisor, in transaction
// mode on port 6543 and session mode on 5432; port 6543 on any host is
// Supavisor's transaction port by convention. These are certain enough to
// act on without asking the server; a host no rule knows returns Pooler "".
func HostRule(host string, port uint16) HostSignal {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case strings.Contains(h, ".proxy-") && strings.HasSuffix(h, ".rds.amazonaws.com"):
		return HostSignal{Pooler: "RDS Proxy", Transaction: true, Detail: "the host is an RDS Proxy endpoint (.proxy-….rds.amazonaws.com)"}
	case h == "pooler.supabase.com" || strings.HasSuffix(h, ".pooler.supabase.com"):
		if port == 5432 {
			return HostSignal{Pooler: "Supavisor", Transaction: false, Detail: "the host is Supabase's pooler on port 5432 (session mode)"}
		}
		return HostSignal{Pooler: "Supavisor", Transaction: true, Detail: fmt.Sprintf("the host is Supabase's pooler on port %d (transaction mode is 6543)", port)}
	case port == SupavisorTransactionPort:
		return HostSignal{Pooler: "Supavisor", Transaction: true, Detail: "port 6543, Supavisor's transaction-mode port"}
	}
	return HostSignal{}
}

// probe is what the server says about the connections of a pool.
type probe struct {
	serverPort, clientPort *int32 // nil over a Unix socket
	localPort              int    // this process's side of the socket; 0 unknown
	pids                   []int32
	// shared: two client connections, both open, got the same backend.
	shared bool
	// moved: one client connection ran on two backends.
	moved bool
	// twoConns: the pool allowed the two-connection check.
	twoConns bool
}

const probeSQL = "SELECT pg_backend_pid(), inet_server_port(), inet_client_port()"

// probeServer asks the server, through the pool, which backend serves each
// statement. It uses the simple protocol (no named statement, so it works
// whatever the pool's mode) and single statements (each its own
// transaction), and leaves no session state behind.
//
// Why this check: a transaction pooler hands a server connection back when
// a transaction ends, so with two client connections open at once, the
// second's transaction runs on the backend the first just released
// (PgBouncer by default, Supavisor and RDS Proxy likewise reuse the most
// recently idle one). On a plain server two open connections are two
// backends, always: a shared pid is proof of a transaction pooler, never a
// false alarm; so is one client connection whose statements run on two
// backends (a pooler handing its connections out in turn). A different pid proves nothing on a busy pooler, so the
// reverse verdict ("direct") also needs the server to see this process's
// own socket: inet_client_port() equal to our local port and
// inet_server_port() equal to the URL's port. NAT or port forwarding makes
// those differ without a pooler: then the verdict is "unknown", never a
// warning. SHOW commands are not used: PgBouncer answers them only on its
// admin database, which the pipeline's user need not reach.
func probeServer(ctx context.Context, pool *pgxpool.Pool) (probe, error) {
	var p probe
	c1, err := pool.Acquire(ctx)
	if err != nil {
		return p, err
	}
	defer c1.Release()
	run := func(c *pgxpool.Conn) (int32, error) {
		var pid int32
		var sp, cp *int32
		if err := c.QueryRow(ctx, probeSQL, pgx.QueryExecModeSimpleProtocol).Scan(&pid, &sp, &cp); err != nil {
			return 0, fmt.Errorf("asking the server which backend serves this connection: %w", err)
		}
		if p.serverPort == nil && p.clientPort == nil {
			p.serverPort, p.clientPort = sp, cp
		}
		p.pids = append(p.pids, pid)
		return pid, nil
	}
	if a, ok := c1.Conn().PgConn().Conn().LocalAddr().(*net.TCPAddr); ok {
		p.localPort = a.Port
	}
	pid1, err := run(c1)
	if err != nil {
		return p, err
	}
	if pool.Config().MaxConns >= 2 {
		p.twoConns = true
		c2, err := pool.Acquire(ctx)
		if err != nil {
			return p, err
		}
		defer c2.Release()
		pid2, err := run(c2)
		if err != nil {
			return p, err
		}
		p.shared = pid2 == pid1
	}
	// Twice more on the first connection: a pooler that hands its server
	// connections out in turn (server_round_robin) gives c1, c2, c1 the
	// backends A, B, A, and the next statement B.
	for range 2 {
		pid, err := run(c1)
		if err != nil {
			return p, err
		}
		p.moved = p.moved || pid != pid1
	}
	return p, nil
}

// modeInUse is in.Pooling, else what the pool's execution mode says: the
// pool opened for transaction pooling sends no named statements.
func modeInUse(declared postgres.Pooling, pool *pgxpool.Pool) postgres.Pooling {
	if declared != "" {
		return declared
	}
	if pool.Config().ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		return postgres.PoolingDirect
	}
	return postgres.PoolingTransaction
}

// detectPooling compares the declared mode with the host rules and the
// server's answers.
func detectPooling(ctx context.Context, pool *pgxpool.Pool, declared postgres.Pooling) (Pooling, error) {
	cc := pool.Config().ConnConfig
	res := Pooling{Mode: modeInUse(declared, pool), Detected: DetectedUnknown, Signals: []string{}}
	hs := HostRule(cc.Host, cc.Port)
	if hs.Pooler != "" {
		res.Signals = append(res.Signals, hs.Detail)
	}
	p, err := probeServer(ctx, pool)
	if err != nil {
		return res, err
	}
	switch {
	case p.shared:
		res.Signals = append(res.Signals, fmt.Sprintf("two open client connections ran on the same backend (pid %d): a transaction pooler", p.pids[0]))
	case p.moved:
		res.Signals = append(res.Signals, fmt.Sprintf("one client connection ran on several backends (pids %v): a transaction pooler", p.pids))
	case p.twoConns:
		res.Signals = append(res.Signals, "two open client connections ran on different backends")
	}
	portsMatch := false
	if p.serverPort != nil {
		if uint16(*p.serverPort) != cc.Port {
			res.Signals = append(res.Signals, fmt.Sprintf("the server listens on port %d, the URL says %d: a proxy, a pooler or port forwarding is in between", *p.serverPort, cc.Port))
		} else if p.clientPort != nil && p.localPort != 0 && int(*p.clientPort) == p.localPort {
			portsMatch = true
			res.Signals = append(res.Signals, "the server sees this process's own socket (ports match on both ends)")
		} else {
			res.Signals = append(res.Signals, "the server sees another client port than this process's (NAT, a proxy or a pooler)")
		}
	} else {
		res.Signals = append(res.Signals, "the server is reached over a Unix socket")
	}
	// The server's evidence first: a shared or moving backend proves a
	// transaction pooler, matching ports on both ends prove there is
	// nothing in between (a plain server on port 6543 is still direct);
	// the host rules decide only when the server cannot tell.
	switch {
	case p.shared || p.moved:
		res.Detected = DetectedTransaction
	case portsMatch:
		res.Detected = DetectedDirect
	case hs.Pooler != "" && hs.Transaction:
		res.Detected = DetectedTransaction
	case hs.Pooler != "": // a session-mode pooler: direct is right
		res.Detected = DetectedDirect
	}
	switch {
	case res.Mode == postgres.PoolingDirect && res.Detected == DetectedTransaction:
		res.Warning = fmt.Sprintf("the server looks like a transaction pooler but the connection mode is direct: set %s=transaction, and %s to a direct (session) URL for migrations",
			postgres.EnvPooling, postgres.EnvMigrationURL)
	case res.Mode == postgres.PoolingTransaction && res.Detected == DetectedDirect:
		res.Warning = fmt.Sprintf("the server looks like a direct PostgreSQL connection but the connection mode is transaction: unset %s (direct keeps prepared statements and lets migrations use this URL; %s is then not needed)",
			postgres.EnvPooling, postgres.EnvMigrationURL)
	}
	return res, nil
}
