#pragma once
// The dashboard page (src/server/dashboard.html), compiled into the binary so the server needs
// no files beside it and the page no network.

namespace flux::server {

const char* dashboard_html();

}  // namespace flux::server
