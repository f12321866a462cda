<%@ page contentType="text/plain; charset=UTF-8" %><%--
  The health path: @HEALTH@ (a build whose health answers 500 is the broken release
  the rollout must stop at the first backend).
--%><% response.setStatus(@HEALTH@); %>health @HEALTH@ version=@VERSION@ node=<%= request.getLocalAddr() %>:<%= request.getLocalPort() %>
