// Seed 000 §1.3.1, "Index.js with source code", as written; only the URL and token come from the environment.
const axios = require('axios').default;
const token = process.env.KEYTURN_USER_TOKEN;

axios({
	headers: {
		'Content-Type': 'application/json',
		'Authorization': 'Bearer ' + token,
	},
	method: 'post',
	url: process.env.KEYTURN_URL + '/api/v2/credential',
	data: {
		"name": "my.app.cu",
		"domain": ".*tropipay.com.* www.my.app.cu *.localhost.*",
		"scope": "ALLOW_EXTERNAL_CHARGE BLOCKED_MONEY_OUT ALLOW_OTA_CHARGE"
	}
})
.then(res => console.log(res.data))
.catch(error => console.log(error));
