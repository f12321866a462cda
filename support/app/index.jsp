<%@ page contentType="text/plain; charset=UTF-8" %><%--
  nginx-ha's test application: which version answered, on which backend, to what.
  A POST's body is read whole (its length is reported), as an application would.
--%><%!
  // A cold start (support/war.py cold_start): the page's class waits this long when it
  // is first loaded, as a real application's first request does (caches, pools).
  static { try { Thread.sleep(@COLD_MS@L); } catch (InterruptedException e) { } }
%><%
  long bodyBytes = 0;
  if ("POST".equals(request.getMethod())) {
    java.io.InputStream in = request.getInputStream();
    byte[] buf = new byte[8192];
    for (int n; (n = in.read(buf)) > 0; ) bodyBytes += n;
  }
%>nginx-ha-app version=@VERSION@ node=<%= request.getLocalAddr() %>:<%= request.getLocalPort() %> method=<%= request.getMethod() %> body=<%= bodyBytes %>
