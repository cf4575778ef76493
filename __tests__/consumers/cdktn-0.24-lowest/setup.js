const cdktn = require("cdktn");
cdktn.Testing.setupJest();
