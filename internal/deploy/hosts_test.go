package deploy

import "testing"

func TestDifferentDatabasesNamesEveryHostNotOnTheFirstsDatabase(t *testing.T) {
	a := dbIdentity{System: "7312", Started: "1796600000000001", Database: "app"}
	copyOfA := a
	copyOfA.Started = "1796600000500000"
	otherDB := a
	otherDB.Database = "app2"
	hosts := []hostDB{{"web-1", a}, {"web-2", a}, {"web-3", copyOfA}, {"web-4", otherDB}}
	want := "the hosts use different databases: web-1 reaches database app of cluster 7312 started 2026-12-06T23:33:20.000001Z, but web-3 reaches database app of cluster 7312 started 2026-12-06T23:33:20.500000Z, web-4 reaches database app2 of cluster 7312 started 2026-12-06T23:33:20.000001Z; every host of one app must use the same database: fix DATABASE_URL there (env:set), then run this again"
	if err := differentDatabases(hosts, "DATABASE_URL"); err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if err := differentDatabases(hosts[:2], "DATABASE_URL"); err != nil {
		t.Errorf("one database: %v", err)
	}
}

func TestStoppedAtSaysWhichHostsChangedFailedAndWereNotTried(t *testing.T) {
	hosts := []string{"web-1", "web-2", "web-3"}
	for i, want := range []string{
		"deploy failed on web-1 (1 of 3): no host changed, web-2, web-3 not tried",
		"deploy failed on web-2 (2 of 3): web-1 on the new release, web-2 on what it ran, web-3 not tried; the next good run brings every host to one release",
		"deploy failed on web-3 (3 of 3): web-1, web-2 on the new release, web-3 on what it ran; the next good run brings every host to one release",
	} {
		if got := stoppedAt(hosts, i, "deploy", "on the new release"); got != want {
			t.Errorf("host %d:\ngot  %s\nwant %s", i, got, want)
		}
	}
}
