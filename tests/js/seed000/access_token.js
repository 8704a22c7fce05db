// Seed 000 §1.3.3, "Index.js with source code", as written; the URL and the client id/secret
// (TROPIPAY_CLIENT_ID / TROPIPAY_CLIENT_SECRET, as the seed's .env names them) come from the environment.
const axios = require('axios').default;
axios({
	method: 'post',
	url: process.env.KEYTURN_URL + '/api/v2/access/token',
	data: {
		"grant_type":"client_credentials",
		"client_id": process.env.TROPIPAY_CLIENT_ID,
		"client_secret": process.env.TROPIPAY_CLIENT_SECRET
	}
})
.then(res => console.log(res.data))
.catch(error => console.log(error));
