// Package detect is the first step of every cycle: it finds what the
// catalog is missing or has let go stale, without being a bad guest on the
// upstream site.
//
// One run crawls one source (internal/upstream, through the polite
// internal/crawl client for HTTP sources):
//
//  1. the upstream's trending list, then the first page of every priority
//     brand's listing (brand_priorities.json), then more pages of the
//     brands covered below the target, until max_requests_per_cycle;
//  2. stores what it saw as observations (votes, rating, rank, time) per
//     source identity, whether the fragrance is in the catalog or not;
//  3. measures trends: week-over-week growth in votes and in trending rank
//     against the observation of about a window ago (monitoring_config.json
//     detection.*), falling back to the upstream's own trending order when
//     there is no history;
//  4. checks each fragrance against the catalog the way an import would
//     (importer.Probe: source identity, then the matcher, so flankers and
//     other concentrations stay different products) and finds the gaps:
//     trending fragrances missing from the catalog (reason "trending"),
//     trending fragrances whose catalog data is older than
//     data_freshness_days ("stale"), and the missing fragrances of priority
//     brands covered below coverage_target_percent ("coverage_gap");
//  5. ranks the candidates by score plus a brand-priority bonus and keeps
//     max_fragrances of them.
//
// The result follows the cycle state contract (docs/state-contract.md). A
// run is idempotent by cycle id: when the cycles row holds a detect result
// it is returned as is.
package detect
