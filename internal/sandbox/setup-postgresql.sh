# PostgreSQL on its unix socket only: the container shares the host's network
# and the host may run its own PostgreSQL on 5432.
v=$(ls /etc/postgresql)
echo "listen_addresses = ''" > "/etc/postgresql/$v/main/conf.d/sandbox.conf"
# The package's cluster took the first port free on the host when the base
# was built (5433 if something listened on 5432 then); the sandbox's own
# socket is .s.PGSQL.5432, where apps and tests look, as on a server.
sed -i 's/^port = .*/port = 5432/' "/etc/postgresql/$v/main/postgresql.conf"
sed -i '1i local app app scram-sha-256' "/etc/postgresql/$v/main/pg_hba.conf"
pg_ctlcluster "$v" main start
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -c 'CREATE ROLE app LOGIN' -c 'CREATE DATABASE app OWNER app'
pg_ctlcluster "$v" main stop
