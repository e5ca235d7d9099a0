# PostgreSQL on its unix socket only: the container shares the host's network
# and the host may run its own PostgreSQL on 5432.
v=$(ls /etc/postgresql)
echo "listen_addresses = ''" > "/etc/postgresql/$v/main/conf.d/sandbox.conf"
sed -i '1i local app app scram-sha-256' "/etc/postgresql/$v/main/pg_hba.conf"
pg_ctlcluster "$v" main start
runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -c 'CREATE ROLE app LOGIN' -c 'CREATE DATABASE app OWNER app'
pg_ctlcluster "$v" main stop
